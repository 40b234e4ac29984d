/** The sim layer: the discrete-event engine, ports and links, quantities. */
export { Sim, ns, us, ms, sec, type EventHandler, type EventId } from './engine.js';
export { Link, Port, PortStats, type LinkOptions, type PortOwner, type Tap, type TapDirection, type DropReason } from './link.js';
export { parseDuration, parseRate, parseBytes, formatDuration } from './units.js';
export { Ledger, LedgerError } from './ledger.js';
