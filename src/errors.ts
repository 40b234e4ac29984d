/**
 * Error types shared by every layer (leaf module: imports nothing).
 *
 * What: one base class, `SdnemuError`, with a stable machine-readable `code`
 * (as undici's `UND_ERR_*`), and one subclass per kind of input, each carrying
 * the place of the fault: a byte offset for wire and pcap input, a line and
 * column for text, a field path for manifests.
 * Why: users feed the emulator hostile or broken input (truncated frames,
 * corrupt captures, typos in flows); they need to know *where*, and tests match
 * on `code`, never on message text.
 * Invariant: parsers of untrusted input throw only their own subclass; no
 * RangeError or TypeError escapes (property-tested with fast-check).
 * Crossing a process or WebSocket boundary: `toJSON()` gives
 * `{ code, message, ...location }`.
 */

export class SdnemuError extends Error {
  /** Stable identifier, e.g. `WIRE_TRUNCATED`, `PCAP_BAD_MAGIC`. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'SdnemuError';
    this.code = code;
  }
  /** The location fields of this error (offset, line, field…), for JSON. */
  location(): Record<string, string | number> {
    return {};
  }
  toJSON(): Record<string, string | number> {
    return { code: this.code, message: this.message, ...this.location() };
  }
}

/**
 * A frame or header that is malformed or not supported.
 * 'layer' is the protocol ('ipv4'), 'field' the Wireshark field at fault
 * ('ip.hdr_len'), 'offset' the byte offset of that field from the start of the
 * frame (or of the buffer the caller parsed).
 */
export class WireError extends SdnemuError {
  readonly layer: string;
  readonly field: string;
  readonly offset: number;
  constructor(code: string, layer: string, field: string, offset: number, message?: string) {
    super(code, message ?? `${layer}: ${describeWireCode(code)} (${field}) at offset ${offset}`);
    this.name = 'WireError';
    this.layer = layer;
    this.field = field;
    this.offset = offset;
  }
  override location(): Record<string, string | number> {
    return { layer: this.layer, field: this.field, offset: this.offset };
  }
}

/** A corrupt or truncated pcap/pcapng file; 'offset' is the file byte offset. */
export class PcapError extends SdnemuError {
  readonly offset: number;
  constructor(code: string, offset: number, message: string) {
    super(code, `${message} at file offset ${offset}`);
    this.name = 'PcapError';
    this.offset = offset;
  }
  override location(): Record<string, string | number> {
    return { offset: this.offset };
  }
}

/** Bad user input given on the command line or in a JSON/YAML document. */
export class InputError extends SdnemuError {
  readonly path: string;
  constructor(code: string, path: string, message: string) {
    super(code, path ? `${path}: ${message}` : message);
    this.name = 'InputError';
    this.path = path;
  }
  override location(): Record<string, string | number> {
    return { path: this.path };
  }
}

function describeWireCode(code: string): string {
  switch (code) {
    case 'WIRE_TRUNCATED': return 'truncated';
    case 'WIRE_BAD_VERSION': return 'bad version';
    case 'WIRE_BAD_HDR_LEN': return 'bad header length';
    case 'WIRE_BAD_LENGTH': return 'bad length';
    case 'WIRE_BAD_CHECKSUM': return 'bad checksum';
    case 'WIRE_BAD_OPTION': return 'malformed option';
    case 'WIRE_BAD_VALUE': return 'malformed field';
    case 'WIRE_UNSUPPORTED': return 'unsupported';
    default: return code;
  }
}
