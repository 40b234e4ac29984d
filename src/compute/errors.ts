/**
 * The compute layer's error (compute layer, control plane; leaf of the layer).
 * What: `CloudError`, an InputError whose `code` is the name Neutron or Nova
 * gives the fault (`OverlappingSubnet`, `IpAddressAlreadyAllocated`,
 * `NoValidHost` …, CamelCase as their exception classes are named) and whose
 * `path` is the field of the call that was refused (`cidr`, `rule.portRangeMin`,
 * `ports[1]`). Tests match on `code` and `path`, never on the message.
 * Neighbours: thrown by cloud.ts, ipam.ts and placement.ts; file.ts wraps it
 * with the YAML line (CloudFileError).
 */
import { InputError } from '../errors.js';

export class CloudError extends InputError {
  constructor(code: string, path: string, message: string) {
    super(code, path, message);
    this.name = 'CloudError';
  }
  /** the field path of the refused input (InputError's 'path') */
  get field(): string { return this.path; }
}

/** Throw a CloudError: the fault's 'code', the field 'path', the 'message'. */
export function refuse(code: string, path: string, message: string): never {
  throw new CloudError(code, path, message);
}
