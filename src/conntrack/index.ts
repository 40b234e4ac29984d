/**
 * Connection tracking (conntrack layer): the public surface.
 *
 * What: re-exports of the tracker (conntrack.ts), the tuple extractor
 * (tuple.ts), the NAT rewriter (nat.ts) and the TCP tracker's state names
 * (tcp.ts). See conntrack.ts for the design; the datapath's `ct()` action
 * is its caller; netfilter uses Linux's semantics (linux.ts) on the same
 * tuples and rewriter.
 */
export {
  Conntrack, CtResult, CS_NEW, CS_ESTABLISHED, CS_RELATED, CS_REPLY_DIR, CS_INVALID, CS_TRACKED, CS_SRC_NAT,
  CS_DST_NAT, DEFAULT_MAX_ENTRIES, type PreparedSpec, DEFAULT_TIMEOUTS_S, ctStateToString, formatTuple, protoName,
  type ConntrackCounters, type ConntrackOptions, type CtExecSpec, type NatRange, type TimeoutName,
} from './conntrack.js';
export { TupleExtractor, KEY_WORDS } from './tuple.js';
export { natPacket, natActionReverse, NAT_ACTION_SRC, NAT_ACTION_SRC_PORT, NAT_ACTION_DST, NAT_ACTION_DST_PORT } from './nat.js';
export { TCP_STATE_NAMES } from './tcp.js';
