/**
 * `sdnemu serve [FILE] [--port N] [--host ADDR] [--token T]` (cli layer):
 * run a topology live under the trace viewer.
 *
 * What: FILE is what `sdnemu run` takes. A topology YAML is built
 * (topology/file.ts) and its `run` steps become the session's scenario
 * traffic, one after the other without driving the simulator: `ping` and
 * `tcp` as session injections (count, port and data; not interval, size or
 * TTL), `serve` a TCP server, `wait` a timer, `cut`/`restore` the link,
 * `dumpFlows`/`trace` printed at their turn; `capture` and `traceroute` are skipped (a capture file has no end under a
 * server that runs until stopped; traceroute drives the simulator itself).
 * A script (.ts/.js) must export `build()` returning a Topology (or
 * `{ net }`). A file of Kubernetes manifests builds a cluster
 * (k8s/cluster.ts) and requests each Service from the pods it does not
 * select, round after round. A cloud file (compute/run.ts) builds the
 * cloud and runs its `run` steps as a topology file's. Without FILE: the
 * demo (k8s/demo.ts): the overlay's output printed first as `sdnemu demo`
 * prints it, then the demo network (the overlay, a NAT gateway, a floating
 * IP across the tunnel, the Kubernetes cluster of examples/k8s/cluster.yaml
 * and the cloud of examples/cloud.yaml) run live with the overlay's pings,
 * a ping to the floating IP, each client pod's request to the web Service
 * and the cloud's pings (k8s/demo.ts demoCloudTraffic), one after the
 * other, again every 5 s of virtual time. A
 * Session (trace/session.ts) runs the clock at speed 1 and a TraceServer
 * (trace/server.ts) serves the viewer's files
 * (viewer/assets.ts `loadViewerAssets`) and the WebSocket; the URL is
 * printed as `sdnemu trace viewer: http://127.0.0.1:PORT/`. It serves until
 * SIGINT or SIGTERM (or 'stop' resolves), then closes the server and the
 * session and returns 0.
 * Errors: a bad file as `sdnemu run` reports it; a non-loopback --host
 * without --token is refused (SERVE_NEEDS_TOKEN) before anything listens.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Writable } from 'node:stream';
import { InputError } from '../errors.js';
import { bridgeStepText, buildTopology, loadTopology } from '../topology/file.js';
import { Topology } from '../topology/topology.js';
import { tcpServer } from '../netstack/tools.js';
import { Session, type InjectCommand } from '../trace/session.js';
import { checkToken, TraceServer } from '../trace/server.js';
import { loadViewerAssets } from '../viewer/assets.js';
import { FLOATING_IP, ipOf, PINGS, runOverlay } from '../topology/demo.js';
import { buildFullDemo, demoCloudTraffic, demoRequests } from '../k8s/demo.js';
import { buildCloudFile, isCloudText } from '../compute/run.js';
import type { RunStep } from '../topology/file.js';
import { clusterOf } from '../k8s/cluster.js';
import { loadManifests } from '../k8s/manifest.js';
import { isManifestText } from './kube.js';
import { signalled } from './args.js';

export interface ServeOptions { file?: string; host?: string; port?: number; token?: string }

/** A scenario: how to build the topology, and its traffic (run after each build; 'say' prints only on the first). */
interface Scenario { build: () => Topology; setup: (s: Session, say: (line: string) => void) => void }

export async function serve(opts: ServeOptions, out: Writable, stop: Promise<void> = signalled()): Promise<number> {
  const say = (s: string): void => { out.write(`${s}\n`); };
  const host = opts.host ?? '127.0.0.1';
  checkToken(host, opts.token);
  const scenario = opts.file === undefined ? await demoScenario(say) : await fileScenario(opts.file);
  // the scenario's lines (its first build only) come after the URL
  let builds = 0, ready = false;
  const held: string[] = [];
  const live = (line: string): void => { if (ready) say(line); else held.push(line); };
  const report = (what: string) => (e: unknown): void => { process.stderr.write(`sdnemu: ${what}: ${e instanceof Error ? e.stack : String(e)}\n`); };
  const session = new Session(scenario.build, {
    setup: (s) => { const first = builds++ === 0; scenario.setup(s, first ? live : () => {}); },
    onError: report('the simulation stopped'),
  });
  const server = new TraceServer({
    session, assets: await loadViewerAssets(), host, port: opts.port ?? 0, onError: report('trace server'),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
  });
  await server.start();
  say(`sdnemu trace viewer: ${server.address()}`);
  ready = true;
  for (const line of held.splice(0)) say(line);
  session.run();
  await stop;
  await server.close();
  session.close();
  return 0;
}

/**
 * The demo: print what `sdnemu demo` prints for the overlay, then serve the demo network
 * (topology/demo.ts: the overlay with a NAT gateway and a floating IP across the tunnel) with the
 * overlay's pings and a ping from `internet` to the floating IP, in turn, again and again.
 */
async function demoScenario(say: (s: string) => void): Promise<Scenario> {
  say('# examples/vxlan-overlay.ts: a VXLAN overlay across a routed underlay');
  say('');
  await runOverlay(say);
  say(`\n# live under the viewer: the same overlay with a NAT gateway (nat1) whose floating IP ${FLOATING_IP} leads to vm1a across the tunnel,`);
  say('# the Kubernetes cluster of examples/k8s/cluster.yaml (3 nodes, kube-proxy iptables mode, OVS + VXLAN),');
  say('# and the cloud of examples/cloud.yaml (two tenants on three hypervisors, Neutron ML2/OVS: br-int, br-tun, a router, a NAT gateway);');
  say(`# the pings run again on the viewer's clock, internet pings ${FLOATING_IP}, each client pod requests the web Service,`);
  say('# and the cloud\'s VMs ping each other across the tunnel, one pings out through SNAT, cloud-internet pings the floating IP');
  let vms: string[] = [];
  let requests: InjectCommand[] = [];
  let cloud: InjectCommand[] = [];
  return {
    build: () => {
      const b = buildFullDemo();
      vms = b.vms.map((h) => h.name);
      requests = demoRequests(b.cluster).map((r): InjectCommand => ({ kind: 'tcp', ...r, count: 1, payload: 'GET / HTTP/1.0\r\n\r\n' }));
      cloud = demoCloudTraffic(b.cloud).map((p): InjectCommand => ({ kind: 'ping', ...p, port: 0, count: 1, payload: '' }));
      return b.net;
    },
    setup: (s) => rounds(s, [...PINGS.map(([from, to]): InjectCommand => ({ kind: 'ping', from: vms[from]!, to: ipOf(to), port: 0, count: 2, payload: '' })),
      { kind: 'ping', from: 'internet', to: FLOATING_IP, port: 0, count: 1, payload: '' }, ...requests, ...cloud]),
  };
}

/** 'cmds' one after the other, round after round, 5 s of virtual time apart (a viewer opened later still sees packets arrive). */
function rounds(s: Session, cmds: InjectCommand[]): void {
  const round = (): void => chain([...cmds.map((cmd): Step => (next) => s.start(cmd, () => next())), (next) => { s.network.sim.call(5e9, next); }], round);
  round();
}

/** Kubernetes manifests: the cluster, and its Services requested round after round (Cluster.serviceChecks). */
function manifestScenario(path: string, text: string): Scenario {
  const loaded = loadManifests(text, { file: path });
  let requests: InjectCommand[] = [];
  return {
    build: () => {
      const { cluster } = clusterOf(loaded);
      requests = cluster.serviceChecks().filter((c) => c.from !== '')
        .map((c): InjectCommand => ({ kind: 'tcp', from: c.from, to: c.to, port: c.port, count: 1, payload: 'GET / HTTP/1.0\r\n\r\n' }));
      return cluster.net;
    },
    setup: (s) => rounds(s, requests),
  };
}

/** A topology file or a script. */
async function fileScenario(path: string): Promise<Scenario> {
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') {
    const text = readFileSync(path, 'utf8');
    if (isManifestText(text)) return manifestScenario(path, text);
    if (isCloudText(text)) {
      buildCloudFile(text); // checked before anything listens
      let run: RunStep[] = [];
      return { build: () => { const b = buildCloudFile(text); run = b.steps; return b.topology; }, setup: (s, say) => chain(steps(s, run, say)) };
    }
    const loaded = loadTopology(text);
    return { build: () => buildTopology(loaded), setup: (s, say) => chain(steps(s, loaded.steps, say)) };
  }
  if (ext === '.ts' || ext === '.mts') {
    const { register } = await import('tsx/esm/api');
    register();
  }
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { build?: unknown };
  if (typeof mod.build !== 'function') throw new InputError('SERVE_NO_BUILD', path, 'a script to serve must export build() returning its Topology');
  const build = mod.build as () => Topology | { net: Topology };
  return {
    build: () => { const t = build(); return t instanceof Topology ? t : t.net; },
    setup: () => {},
  };
}

type Step = (next: () => void) => void;

/** Run 'list' one after the other (each calls its 'next' when done), then 'then'. */
function chain(list: Step[], then: () => void = () => {}): void {
  const go = (i: number): void => { if (i < list.length) list[i]!(() => go(i + 1)); else then(); };
  go(0);
}

/** A topology (or cloud) file's run steps as scenario steps (see the module note for what each becomes). */
function steps(s: Session, run: readonly RunStep[], say: (line: string) => void): Step[] {
  const t = s.network;
  return run.map((st): Step => (next) => {
    switch (st.kind) {
      case 'ping':
        say(`$ ${st.from}: ping -c ${st.count} ${st.to}`);
        s.start({ kind: 'ping', from: st.from, to: st.to, port: 0, count: st.count, payload: '' }, (r) => { say(r.kind === 'ping' ? r.result.text : ''); next(); });
        return;
      case 'tcp':
        s.start({ kind: 'tcp', from: st.from, to: st.to, port: st.port, count: 1, payload: st.data }, (r) => {
          if (r.kind === 'tcp') say(`$ ${st.from}: tcp ${st.to}:${st.port}  ${r.result.error ?? JSON.stringify(new TextDecoder().decode(r.result.response))}\n`);
          next();
        });
        return;
      case 'serve': tcpServer(t.hostNamed(st.host), st.port, () => new TextEncoder().encode(st.reply)); break;
      case 'wait': t.sim.call(st.ns, next); return;
      case 'cut': t.links[st.link]!.cut(); break;
      case 'restore': t.links[st.link]!.restore(); break;
      case 'dumpFlows': case 'trace': say(bridgeStepText(t, st).trimEnd()); break;
      case 'capture': case 'traceroute': break;
    }
    next();
  });
}
