/**
 * The CNI's error (k8s layer, CNI): bad requests to the cluster data plane
 * and malformed NetworkPolicies, with a stable code and the field path.
 * Neighbours: network.ts and policy.ts throw it; errors.ts (InputError) is its base.
 */
import { InputError } from '../../errors.js';

/** A CNI configuration or request error ('path' names the field: `podCIDR`, `spec.ingress[0].from[1]`). */
export class CniError extends InputError {
  constructor(code: string, path: string, message: string) {
    super(code, path, message);
    this.name = 'CniError';
  }
}
