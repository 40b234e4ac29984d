/**
 * Errors of the flow layer's text parsers (slow path).
 *
 * What: `FlowSyntaxError`, thrown by `parseMatch()` (match.ts) and, later, by
 * the ovs-ofctl flow and action parsers in ofproto/. It extends the shared
 * `SdnemuError` (src/errors.ts) with the place of the fault: 'line' (1 for a
 * single flow string; the flows-file reader sets the real line), 'column'
 * (1-based, of the offending token in that line) and 'token' itself.
 * Why: users debug pipelines written in ovs-ofctl syntax, so the text after
 * the location reads like ovs-ofctl's own message (`80): bad syntax for
 * tcp_dst value`, `unknown keyword foo`); it is kept verbatim in 'detail' so a
 * differential test can compare it with ovs-ofctl's stderr. Tests match on
 * 'code', never on message text.
 * Codes (stable): OFCTL_UNKNOWN_FIELD, OFCTL_BAD_VALUE, OFCTL_BAD_MASK,
 * OFCTL_MISSING_PREREQ, OFCTL_SYNTAX.
 */
import { SdnemuError } from '../errors.js';

export type FlowSyntaxCode =
  | 'OFCTL_UNKNOWN_FIELD'
  | 'OFCTL_BAD_VALUE'
  | 'OFCTL_BAD_MASK'
  | 'OFCTL_MISSING_PREREQ'
  | 'OFCTL_SYNTAX';

export class FlowSyntaxError extends SdnemuError {
  readonly line: number;
  readonly column: number;
  readonly token: string;
  /** The message without location, worded as ovs-ofctl words it. */
  readonly detail: string;
  constructor(code: FlowSyntaxCode, detail: string, column: number, token: string, line = 1) {
    super(code, `line ${line}, column ${column}: ${detail}`);
    this.name = 'FlowSyntaxError';
    this.line = line;
    this.column = column;
    this.token = token;
    this.detail = detail;
  }
  /** The same error placed on line 'line' of a file (for the flows-file reader). */
  atLine(line: number): FlowSyntaxError {
    return new FlowSyntaxError(this.code as FlowSyntaxCode, this.detail, this.column, this.token, line);
  }
  override location(): Record<string, string | number> {
    return { line: this.line, column: this.column, token: this.token };
  }
}
