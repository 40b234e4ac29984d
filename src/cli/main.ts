#!/usr/bin/env node
/**
 * The `sdnemu` command (cli layer, top of the stack).
 *
 * Subcommands (contracts in DESIGN.md; tests hold them):
 *   sdnemu pcap decode FILE [--json] [-d udp.port==N,vxlan]
 *   sdnemu pcap encode --json FILE -w OUT.pcap [--nano]
 *   sdnemu ofproto-trace --flows FLOWS [--groups GROUPS] [--ports PORTS] [-O OpenFlow13] PACKET…
 *   sdnemu datapath --flows FLOWS [--groups GROUPS] [--ports PORTS] [-O OpenFlow13] --in PORT=FILE… [-w OUT-DIR]
 *   sdnemu iptables-trace --rules FILE [--host HOST.yaml] --packet 'tcp SRC:PORT > DST:PORT in IFACE' …
 *   sdnemu kube-proxy --mode iptables|ipvs FILE.yaml… [--hostname NODE] [--cluster-cidr CIDR] …
 *   sdnemu run TOPOLOGY.yaml|MANIFESTS.yaml|SCRIPT.ts
 *   sdnemu serve [TOPOLOGY.yaml|SCRIPT.ts] [--port N] [--host ADDR] [--token T]
 *   sdnemu shard FILE.yaml --shards N [--until T] [--ping FROM:TO[:COUNT]]… [--udp FROM:TO:PPS:SECONDS[:PORT]]… [--cluster-cidr CIDR] [--underlay CIDR]
 *   sdnemu shard --map MAP.yaml --index K [--namespace NS] [--bind ADDR:PORT] [--peer J=HOST:PORT]… [--ready-file F] [--ping …]… [--udp …]…
 *   sdnemu demo [-w OUT.pcap]
 * Errors print as `sdnemu: CODE: message` on stderr with exit status 1 (2 for
 * usage errors); output already written for good packets stays written.
 * This is the only layer that reads the wall clock or the process's argv.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SdnemuError } from '../errors.js';
import { parseArgs } from './args.js';
import { pcapDecode, pcapEncode } from './pcap.js';
import { demo } from './demo.js';
import { traceCommand } from '../ofproto/trace.js';
import { datapathCommand } from './datapath.js';
import { iptablesTrace } from './iptables-trace.js';
import { runFile } from './run.js';
import { kubeProxy } from './kube.js';
import { serve } from './serve.js';
import { parsePingOption, parseUdpOption, parseUntil, shardLocal } from './shard.js';
import { parseBindOption, parsePeerOption, shardDeploy } from './shard-deploy.js';

const VERSION = '0.1.0';

const USAGE = `usage: sdnemu <command> [options]

Commands:
  pcap decode FILE|- [--json] [-d udp.port==N,vxlan|geneve]
        Print one line per packet like 'tcpdump -nn -e', or with --json an array
        of objects keyed by Wireshark field names (values as 'tshark -T fields'
        prints them; a field in several layers is an array, outer first).
        Reads pcap (both byte orders, us/ns) and pcapng, from FILE or standard
        input ('-'); Ethernet, Linux cooked (tcpdump -i any) and raw IP link types.
  pcap encode --json FILE -w OUT.pcap [--nano]
        Build packets from the same field names ('-' reads standard input);
        lengths and checksums are computed unless given.
  ofproto-trace --flows FLOWS [--groups GROUPS] [--ports PORTS] [-O OpenFlow13] PACKET...
        Load flows written for 'ovs-ofctl add-flows' (and groups for add-groups)
        into bridge br0 and trace one packet as 'ovs-appctl ofproto/trace' does.
        PACKET is [--ct-next FLAGS]... FLOW [HEX]: a flow string such as
        'in_port=1,tcp,nw_dst=10.0.0.1,tcp_dst=80', optionally followed by an
        Ethernet frame in hex. PORTS has one 'NAME OFPORT [TYPE] [key=value...]'
        a line, plus '@hwaddr MAC', '@ip ADDR/LEN', '@route CIDR br0' and
        '@neigh IP MAC' lines for tunnels.
  datapath --flows FLOWS [--groups GROUPS] [--ports PORTS] [-O OpenFlow13] --in PORT=FILE... [-w OUT-DIR]
        Send captures through the OVS-style datapath of bridge br0 (exact-match
        and megaflow caches, upcalls, conntrack, VXLAN/Geneve tunnels): the
        packets of each --in capture enter on PORT, all in timestamp order.
        With -w, what each port sends is written to OUT-DIR/PORT.pcap. Prints
        dpctl/show, drops, pmd-stats-show, dpctl/dump-flows, dump-conntrack
        and the OpenFlow rules with their counters.
  iptables-trace --rules FILE [--host HOST.yaml] [--ipsets FILE] [--ipvs FILE] --packet 'PROTO SRC:PORT > DST:PORT in IFACE [flags S]'...
        Load an iptables-save file on the node HOST.yaml describes (interfaces,
        routes, ip_forward / route_localnet / nf_conntrack_tcp_loose), run the
        packets in order against one conntrack table, and print JSON per packet:
        the hooks and rules that matched, the verdict, the packet as it leaves
        (after NAT) or the ICMP error / TCP reset sent back, and conntrack -L.
  kube-proxy --mode iptables|ipvs FILE.yaml... [--hostname NODE] [--cluster-cidr CIDR]
             [--masquerade-all] [--random-fully] [--nodeport-addresses CIDR,...]
        What kube-proxy programs on node NODE (default: the first Node in the
        files) for the Services and EndpointSlices of ordinary manifests: the
        iptables-restore payload of each sync as kube-proxy writes it, one sync
        per FILE (the first full, later ones partial); ipvs mode also prints
        ipvsadm -Ln, the ipsets and the kube-ipvs0 addresses.
  run TOPOLOGY.yaml | MANIFESTS.yaml | SCRIPT.ts
        Build a topology (a YAML file, or a script using the Topology API) and run
        it: ping, traceroute, captures, link cuts, on the virtual clock. A file of
        Kubernetes manifests builds a cluster (its Node documents are the nodes),
        applies them, prints kubectl get nodes/pods/services and requests every
        Service from pods it does not select (and NodePorts from outside).
  serve [TOPOLOGY.yaml | SCRIPT.ts] [--port N] [--host ADDR] [--token T]
        Run a topology live (the demo's overlay without a file) and serve the
        trace viewer on http://127.0.0.1:PORT/ (port 0: any free one) until
        interrupted. A --host other than loopback needs --token T, which the
        viewer must present. A script must export build() returning its Topology.
  shard FILE.yaml --shards N [--until T] [--ping FROM:TO[:COUNT]]... [--udp FROM:TO:PPS:SECONDS[:PORT]]...
        [--cluster-cidr CIDR] [--underlay CIDR] [--serve [--port N]]
        Run a topology file, or a cluster's Kubernetes manifests (its nodes
        split, each with its pods; the underlay cut; a /24 per node from
        --cluster-cidr, default 10.244.0.0/16, node addresses from --underlay,
        default 192.168.0.0/24: widen both past 245 nodes), across N worker threads
        in virtual-time lockstep (only slow links are cut; the lookahead is the
        smallest cut delay) until virtual time T (default 5s). Traffic: the
        --ping and --udp options (a pod is NAMESPACE/NAME), else a topology
        file's ping steps, all started at time 0. Prints the
        partition, each ping's statistics, UDP counts, the rounds, the gathered
        packet ledger and the wall time; exit 1 naming a shard that failed.
        --serve: then the trace viewer on http://127.0.0.1:N/ over the records
        gathered from every shard (one id per packet), read-only, until
        interrupted.
  shard --map MAP.yaml --index K [--namespace NS] [--bind ADDR:PORT] [--peer J=HOST:PORT]...
        [--ready-file FILE] [--ping FROM:TO[:COUNT]]... [--udp FROM:TO:PPS:SECONDS[:PORT]]...
        Run shard K of a shard map (deploy/README.md) as this process, in real
        time: its part of the map's topology file, its cut underlay link on a
        real UDP socket (default 0.0.0.0:underlay.port) exchanging VXLAN with
        the other shards at their DNS names in namespace NS (default sdnemu),
        or at --peer J=HOST:PORT. Creates FILE (default $SDNEMU_READY_FILE)
        once bound and the peers resolve; on SIGTERM or SIGINT stops and
        prints the pings started here, the underlay's counters and the ledger.
  demo [-w OUT.pcap]
        Build a VXLAN-encapsulated packet, write it to a pcap and decode it back.

Options:
  -h, --help      show this help
  -V, --version   show the version
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '-V' || cmd === '--version') {
    process.stdout.write(`sdnemu ${VERSION}\n`);
    return 0;
  }
  try {
    switch (cmd) {
      case 'pcap': {
        const [sub, ...args] = rest;
        if (sub === 'decode') {
          const p = parseArgs(args, [{ name: 'json' }, { name: 'decode-as', short: 'd', value: true, repeat: true }, { name: 'help', short: 'h' }]);
          if (p.flags.has('help')) { process.stdout.write(USAGE); return 0; }
          if (p.positional.length !== 1) return usage('pcap decode needs exactly one FILE');
          return await pcapDecode(p.positional[0]!, { json: p.flags.has('json'), decodeAs: p.values.get('decode-as') ?? [] }, process.stdout);
        }
        if (sub === 'encode') {
          const p = parseArgs(args, [{ name: 'json', value: true }, { name: 'write', short: 'w', value: true }, { name: 'nano' }, { name: 'help', short: 'h' }]);
          if (p.flags.has('help')) { process.stdout.write(USAGE); return 0; }
          const input = p.values.get('json')?.[0];
          const out = p.values.get('write')?.[0];
          if (input === undefined || out === undefined) return usage('pcap encode needs --json FILE and -w OUT.pcap');
          if (p.positional.length > 0) return usage(`pcap encode: unexpected argument '${p.positional[0]}'`);
          const text = input === '-' ? readFileSync(0, 'utf8') : readFileSync(input, 'utf8');
          const n = await pcapEncode(text, out, { nanosecond: p.flags.has('nano'), source: input });
          process.stderr.write(`wrote ${n} packet${n === 1 ? '' : 's'} to ${out}\n`);
          return 0;
        }
        return usage(sub === undefined ? 'pcap needs a subcommand (decode, encode)' : `unknown pcap subcommand '${sub}'`);
      }
      case 'ofproto-trace':
        return ofprotoTrace(rest);
      case 'iptables-trace': {
        const p = parseArgs(rest, [{ name: 'rules', value: true }, { name: 'host', value: true }, { name: 'ipsets', value: true }, { name: 'ipvs', value: true },
          { name: 'packet', value: true, repeat: true },
          { name: 'help', short: 'h' }]);
        if (p.flags.has('help')) { process.stdout.write(USAGE); return 0; }
        const rules = p.values.get('rules')?.[0];
        const packets = p.values.get('packet') ?? [];
        if (rules === undefined || packets.length === 0) return usage("iptables-trace needs --rules FILE and at least one --packet 'tcp SRC:PORT > DST:PORT in IFACE'");
        if (p.positional.length > 0) return usage(`iptables-trace: unexpected argument '${p.positional[0]}'`);
        const read = (f: string): string => readFileSync(f === '-' ? 0 : f, 'utf8');
        const host = p.values.get('host')?.[0], ipsets = p.values.get('ipsets')?.[0], ipvs = p.values.get('ipvs')?.[0];
        return iptablesTrace({ rules: read(rules), packets, ...(host !== undefined ? { host: read(host) } : {}),
          ...(ipsets !== undefined ? { ipsets: read(ipsets) } : {}), ...(ipvs !== undefined ? { ipvs: read(ipvs) } : {}) }, process.stdout);
      }
      case 'kube-proxy': {
        const p = parseArgs(rest, [{ name: 'mode', value: true }, { name: 'hostname', value: true }, { name: 'cluster-cidr', value: true },
          { name: 'masquerade-all' }, { name: 'random-fully' }, { name: 'nodeport-addresses', value: true }, { name: 'help', short: 'h' }]);
        if (p.flags.has('help')) { process.stdout.write(USAGE); return 0; }
        const mode = p.values.get('mode')?.[0] ?? 'iptables';
        if (mode !== 'iptables' && mode !== 'ipvs') return usage(`--mode ${mode}: expected iptables or ipvs`);
        if (p.positional.length === 0) return usage('kube-proxy needs at least one FILE.yaml of Services and EndpointSlices');
        const hostname = p.values.get('hostname')?.[0], cidr = p.values.get('cluster-cidr')?.[0], npa = p.values.get('nodeport-addresses')?.[0];
        return kubeProxy({ mode, files: p.positional, masqueradeAll: p.flags.has('masquerade-all'), randomFully: p.flags.has('random-fully'),
          ...(hostname !== undefined ? { hostname } : {}), ...(cidr !== undefined ? { clusterCIDR: cidr } : {}),
          ...(npa !== undefined ? { nodePortAddresses: npa.split(',') } : {}) }, process.stdout);
      }
      case 'run': {
        const p = parseArgs(rest, [{ name: 'help', short: 'h' }]);
        if (p.flags.has('help')) { process.stdout.write(USAGE); return 0; }
        if (p.positional.length !== 1) return usage('run needs exactly one TOPOLOGY.yaml or SCRIPT.ts');
        return await runFile(p.positional[0]!, process.stdout);
      }
      case 'datapath': {
        const p = parseArgs(rest, [{ name: 'flows', value: true }, { name: 'groups', value: true }, { name: 'ports', value: true },
          { name: 'protocols', short: 'O', value: true }, { name: 'in', value: true, repeat: true }, { name: 'write', short: 'w', value: true },
          { name: 'help', short: 'h' }]);
        if (p.flags.has('help')) { process.stdout.write(USAGE); return 0; }
        const flows = p.values.get('flows')?.[0];
        const inputs = p.values.get('in') ?? [];
        if (flows === undefined || inputs.length === 0) return usage('datapath needs --flows FLOWS and at least one --in PORT=FILE');
        if (p.positional.length > 0) return usage(`datapath: unexpected argument '${p.positional[0]}'`);
        const proto = p.values.get('protocols')?.[0] ?? 'OpenFlow10';
        if (proto !== 'OpenFlow10' && proto !== 'OpenFlow13') return usage(`-O ${proto}: sdnemu supports OpenFlow10 and OpenFlow13`);
        const read = (f: string): string => readFileSync(f === '-' ? 0 : f, 'utf8');
        const groups = p.values.get('groups')?.[0], ports = p.values.get('ports')?.[0], outDir = p.values.get('write')?.[0];
        return await datapathCommand({
          flows: read(flows), protocols: proto, inputs,
          ...(groups !== undefined ? { groups: read(groups) } : {}), ...(ports !== undefined ? { ports: read(ports) } : {}),
          ...(outDir !== undefined ? { outDir } : {}),
        }, process.stdout);
      }
      case 'serve': {
        const p = parseArgs(rest, [{ name: 'port', value: true }, { name: 'host', value: true }, { name: 'token', value: true }, { name: 'help', short: 'h' }]);
        if (p.flags.has('help')) { process.stdout.write(USAGE); return 0; }
        if (p.positional.length > 1) return usage('serve takes at most one TOPOLOGY.yaml or SCRIPT.ts');
        const portText = p.values.get('port')?.[0] ?? '0';
        const port = Number(portText);
        if (!/^\d+$/.test(portText) || port > 65535) return usage(`--port ${portText}: expected a port number (0..65535)`);
        const file = p.positional[0], host = p.values.get('host')?.[0], token = p.values.get('token')?.[0];
        return await serve({ port, ...(file !== undefined ? { file } : {}), ...(host !== undefined ? { host } : {}), ...(token !== undefined ? { token } : {}) }, process.stdout);
      }
      case 'shard': {
        const p = parseArgs(rest, [{ name: 'shards', value: true }, { name: 'until', value: true }, { name: 'ping', value: true, repeat: true },
          { name: 'udp', value: true, repeat: true }, { name: 'map', value: true }, { name: 'index', value: true }, { name: 'namespace', value: true },
          { name: 'bind', value: true }, { name: 'peer', value: true, repeat: true }, { name: 'ready-file', value: true }, { name: 'help', short: 'h' },
          { name: 'cluster-cidr', value: true }, { name: 'underlay', value: true }, { name: 'serve' }, { name: 'port', value: true }]);
        if (p.flags.has('help')) { process.stdout.write(USAGE); return 0; }
        const mapFile = p.values.get('map')?.[0];
        if (mapFile !== undefined) {
          if (p.positional.length > 0) return usage(`shard --map: unexpected argument '${p.positional[0]}'`);
          if (p.values.has('shards') || p.values.has('until')) return usage('shard --map takes neither --shards nor --until (the map says how many; it runs until SIGTERM)');
          const indexText = p.values.get('index')?.[0];
          if (indexText === undefined || !/^\d{1,4}$/.test(indexText)) return usage(`shard --map needs --index K (a shard number), not ${indexText ?? 'nothing'}`);
          const bind = p.values.get('bind')?.[0], ready = p.values.get('ready-file')?.[0];
          return await shardDeploy({ map: mapFile, index: Number(indexText), namespace: p.values.get('namespace')?.[0] ?? 'sdnemu',
            peers: new Map((p.values.get('peer') ?? []).map(parsePeerOption)), ...(bind !== undefined ? { bind: parseBindOption(bind) } : {}),
            ...(ready !== undefined ? { readyFile: ready } : {}),
            pings: (p.values.get('ping') ?? []).map(parsePingOption), udp: (p.values.get('udp') ?? []).map(parseUdpOption) }, process.stdout);
        }
        if (p.values.has('index') || p.values.has('peer') || p.values.has('bind') || p.values.has('namespace') || p.values.has('ready-file')) {
          return usage('shard: --index, --namespace, --bind, --peer and --ready-file go with --map');
        }
        if (p.positional.length !== 1) return usage('shard needs exactly one FILE.yaml (a topology file or Kubernetes manifests)');
        const shardsText = p.values.get('shards')?.[0];
        if (shardsText === undefined) return usage('shard needs --shards N');
        if (!/^[1-9]\d{0,3}$/.test(shardsText)) return usage(`--shards ${shardsText}: expected a number of shards (1..9999)`);
        const clusterCIDR = p.values.get('cluster-cidr')?.[0], underlay = p.values.get('underlay')?.[0];
        const portText = p.values.get('port')?.[0];
        if (portText !== undefined && !p.flags.has('serve')) return usage('shard: --port goes with --serve');
        if (portText !== undefined && (!/^\d+$/.test(portText) || Number(portText) > 65535)) return usage(`--port ${portText}: expected a port number (0..65535)`);
        return await shardLocal({
          ...(p.flags.has('serve') ? { serve: { port: Number(portText ?? '0') } } : {}), file: p.positional[0]!, shards: Number(shardsText), endNs: parseUntil(p.values.get('until')?.[0] ?? '5s'),
          pings: (p.values.get('ping') ?? []).map(parsePingOption), udp: (p.values.get('udp') ?? []).map(parseUdpOption),
          cluster: { ...(clusterCIDR !== undefined ? { clusterCIDR } : {}), ...(underlay !== undefined ? { underlay } : {}) } }, process.stdout);
      }
      case 'demo': {
        const p = parseArgs(rest, [{ name: 'write', short: 'w', value: true }]);
        return await demo(p.values.get('write')?.[0], process.stdout);
      }
      default:
        return usage(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof SdnemuError) {
      process.stderr.write(`sdnemu: ${e.code}: ${e.message}\n`);
      return e.code.startsWith('CLI_') ? 2 : 1;
    }
    if (e instanceof Error && 'code' in e && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).syscall) {
      process.stderr.write(`sdnemu: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/**
 * `sdnemu ofproto-trace`: its own small option loop, because PACKET… may
 * itself contain `--ct-next FLAGS` (passed through in order, as ofproto/trace
 * takes it).
 */
function ofprotoTrace(args: string[]): number {
  let flows: string | undefined, groups: string | undefined, ports: string | undefined;
  let protocols: 'OpenFlow10' | 'OpenFlow13' = 'OpenFlow10';
  const packet: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new SdnemuError('CLI_USAGE', `${a} needs a value`);
      return v;
    };
    if (a === '-h' || a === '--help') { process.stdout.write(USAGE); return 0; }
    else if (a === '--flows') flows = value();
    else if (a === '--groups') groups = value();
    else if (a === '--ports') ports = value();
    else if (a === '-O' || a === '--protocols') {
      const v = value();
      if (v !== 'OpenFlow10' && v !== 'OpenFlow13') throw new SdnemuError('CLI_USAGE', `-O ${v}: sdnemu supports OpenFlow10 and OpenFlow13`);
      protocols = v;
    } else if (a === '--ct-next') packet.push(a, value());
    else packet.push(a);
  }
  if (flows === undefined) return usage('ofproto-trace needs --flows FLOWS');
  if (packet.length === 0) return usage('ofproto-trace needs a PACKET (a flow string, optionally followed by a hex frame)');
  const read = (f: string): string => readFileSync(f === '-' ? 0 : f, 'utf8');
  process.stdout.write(traceCommand({
    flows: read(flows), groups: groups === undefined ? undefined : read(groups),
    ports: ports === undefined ? undefined : read(ports), protocols, packet,
  }));
  return 0;
}

function usage(msg: string): number {
  process.stderr.write(`sdnemu: ${msg}\n${USAGE}`);
  return 2;
}

// Run when executed as a program (not when imported by tests).
function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isEntryPoint()) {
  // `sdnemu pcap decode big.pcap | head`: a closed pipe ends the command quietly, as tcpdump does.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`sdnemu: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 70;
  });
}
