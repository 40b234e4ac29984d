// A VXLAN overlay across a routed underlay: two hypervisors in different subnets behind a router,
// each with a Linux bridge joining its VMs to a VXLAN tunnel endpoint (VNI 100, flood-and-learn
// with head-end replication). The VMs share one overlay subnet. Prints the pings, the VTEPs'
// forwarding tables and the first encapsulated packets as they cross the underlay.
// The network is the demo's (src/topology/demo.ts); this script runs it.
// Run it: npx sdnemu run examples/vxlan-overlay.ts
export { buildOverlay as build, runOverlay as default, PINGS, ipOf } from '../src/topology/demo.js';
