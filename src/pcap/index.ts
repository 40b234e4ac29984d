/**
 * Capture files (pcap layer, slow path): the public surface of src/pcap/.
 *
 * Reading: `PcapReader` (push chunks, pull records), `readPcap(bytes)`,
 * `readPcapFile(path)`. Writing: `PcapWriter` (classic pcap, µs or ns, either
 * byte order), `PcapngWriter`, `writePcap`/`writePcapng`, `PcapFileWriter`.
 * format.ts documents the record type and the `PcapError` codes and offsets.
 * Neighbours: below it only errors.ts; above it the CLI's `pcap decode` /
 * `pcap encode`, and captures on simulated ports.
 */
export * from './format.js';
export { PcapReader, readPcap, type PcapReaderOptions } from './reader.js';
export {
  PcapWriter, PcapngWriter, writePcap, writePcapng,
  type PcapWriteRecord, type PcapWriterOptions, type PcapngWriterOptions, type PcapngInterfaceOptions,
} from './writer.js';
export { PcapFileWriter, readPcapFile, readPcapStream, type PcapFileReadOptions, type PcapFileWriterOptions } from './file.js';
