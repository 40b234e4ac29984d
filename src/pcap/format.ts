/**
 * Capture file formats: constants, the record type and error codes shared by
 * the pcap reader and writers (pcap layer, slow path; leaf of src/pcap/).
 *
 * What: the classic pcap magics (µs 0xa1b2c3d4, ns 0xa1b23c4d, in either byte
 * order), the pcapng block types we read, the `PcapRecord` every reader
 * yields, and the stable `PcapError` codes with the rule for their offsets.
 * Records: one per captured packet, in file order. `tsSec`/`tsNsec` are the
 * capture time as whole seconds since the epoch plus 0..999999999 ns, in
 * whatever resolution the file had (µs files give multiples of 1000);
 * `interfaceId` is the pcapng interface within its section (0 for classic
 * pcap), the number tshark prints as `frame.interface_id`; `data` is a fresh
 * copy of the `capLen` captured bytes that the caller owns.
 * Errors: every fault is a `PcapError` (src/errors.ts) whose `offset` is a
 * FILE byte offset:
 *   PCAP_BAD_MAGIC     the first bytes are neither pcap nor pcapng (offset 0;
 *                      8 for a pcapng byte-order magic that is neither order);
 *   PCAP_TRUNCATED     the file ends inside the header, a record or a block
 *                      (offset: the start of that header, record or block);
 *   PCAP_BAD_RECORD    a captured length above `PCAP_MAX_CAPLEN` or above the
 *                      snaplen (offset: the captured-length field);
 *   PCAP_BAD_BLOCK     a pcapng block length that is too small, not a multiple
 *                      of 4 or absurd (the length field), a trailer that does
 *                      not repeat it (the trailer), a body or option that does
 *                      not fit its block (that field or option), an unknown
 *                      section version;
 *   PCAP_NO_INTERFACE  a packet block naming an interface its section has not
 *                      described (the interface-id field; the block for an SPB).
 * Readers yield every good record before the fault, then throw.
 * Neighbours: reader.ts parses, writer.ts serialises, file.ts streams files;
 * the CLI (`sdnemu pcap decode`) and captures on simulated ports use them.
 */

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Classic pcap file header bytes. */
export const PCAP_HEADER_LEN = 24;
/** Classic pcap record header bytes. */
export const PCAP_RECORD_HEADER_LEN = 16;

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_IDB = 0x00000001;
/** The obsolete Packet Block. */
export const PCAPNG_PB = 0x00000002;
export const PCAPNG_SPB = 0x00000003;
export const PCAPNG_EPB = 0x00000006;

/** IDB option codes we interpret. */
export const IF_NAME = 2;
export const IF_TSRESOL = 9;
export const IF_TSOFFSET = 14;
/** SHB option: the application that wrote the file. */
export const SHB_USERAPPL = 4;

export const LINKTYPE_ETHERNET = 1;
/**
 * Largest captured length accepted: libpcap's MAXIMUM_SNAPLEN, also
 * Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD ("File has N-byte packet, bigger
 * than maximum of 262144").
 */
export const PCAP_MAX_CAPLEN = 262144;
/** Largest pcapng block accepted (16 MiB, as Wireshark's reader). */
export const PCAPNG_MAX_BLOCK_LEN = 16 * 1024 * 1024;

export type ByteOrder = 'le' | 'be';
export type CaptureFormat = 'pcap' | 'pcapng';

export type PcapErrorCode = 'PCAP_BAD_MAGIC' | 'PCAP_TRUNCATED' | 'PCAP_BAD_RECORD' | 'PCAP_BAD_BLOCK' | 'PCAP_NO_INTERFACE';

/** One captured packet. */
export interface PcapRecord {
  /** pcapng interface within its section; 0 for classic pcap. */
  interfaceId: number;
  /** LINKTYPE_* of the interface (1 = Ethernet). */
  linktype: number;
  /** Seconds since the epoch. */
  tsSec: number;
  /** Nanoseconds, 0..999999999. */
  tsNsec: number;
  /** Bytes captured (== data.length). */
  capLen: number;
  /** Bytes on the wire. */
  origLen: number;
  data: Uint8Array;
}

/** A capture interface: the classic file header, or one pcapng IDB. */
export interface PcapInterface {
  linktype: number;
  /** 0 means "no limit" (pcapng) or unknown. */
  snaplen: number;
  /** Timestamp units per second (10^6 for µs, 10^9 for ns, 2^k for binary resolutions). */
  unitsPerSec: bigint;
  /** if_tsoffset: seconds added to every timestamp (pcapng), else 0. */
  tsOffsetSec: number;
  /** if_name, or '' when absent. */
  name: string;
}
