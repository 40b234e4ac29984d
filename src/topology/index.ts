/** The topology layer: composing hosts, routers and devices on one simulator. */
export { Topology, Capture, type Endpoint, type EndSpec, type HostSpec, type LinkSpec, type PortFactory } from './topology.js';
