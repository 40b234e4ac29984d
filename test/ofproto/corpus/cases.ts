/**
 * The differential corpus of issue 3 (test helper, not part of src/): reading the `*.case`
 * files of this directory and running one in a real Open vSwitch.
 *
 * What: `loadCorpus()` lists and parses every case file (format in README.md: `--- options`,
 * `--- ports`, `--- flows`, `--- groups`, `--- trace` sections after a `#` header, which may
 * declare `# megaflow-differs: REASON`). `runCaseInOvs()` builds the case's bridge in an
 * OvsSandbox exactly as the `--ports` file says (ports with types and options, @hwaddr,
 * @ip, @route, @neigh), loads its flows and groups with the case's OpenFlow version, and
 * returns `ovs-appctl ofproto/trace`'s text for each trace line.
 * Why shared: the live differential test (../trace-ovs.test.ts) and the recorder of the
 * reference outputs (record.ts) must set OVS up identically.
 * Invariants: every trace line is the PACKET… argument list of `sdnemu ofproto-trace`:
 * `[--ct-next FLAGS]… FLOWSTRING [HEX]`; a case without `--- ports` gets DEFAULT_PORTS.
 * Neighbours: ../../oracle/ovs.ts (OvsSandbox, parseTrace), src/ofproto/ports.ts
 * (parsePortsFile, which validates the ports section here too).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePortsFile } from '../../../src/ofproto/ports.js';
import { type OvsSandbox } from '../../oracle/ovs.js';

export const CORPUS_DIR = dirname(fileURLToPath(import.meta.url));

/** The ports of a case that has no `--- ports` section. */
export const DEFAULT_PORTS = 'p1 1\np2 2\np3 3\np4 4\n';

export type Protocols = 'OpenFlow10' | 'OpenFlow13';

/** One `--- trace` line. */
export interface CaseTrace {
  /** 1-based line in the case file */
  line: number;
  /** the PACKET… arguments, as `sdnemu ofproto-trace` takes them */
  args: string[];
  /** split for OvsSandbox.trace(): `--ct-next` flags in order, the flow string, the hex frame */
  ctNext: string[];
  flow: string;
  hex: string | null;
}

export interface CorpusCase {
  /** file name without `.case` */
  name: string;
  /** the `#` header lines, without `# ` */
  description: string[];
  /** the reason given by `# megaflow-differs: …`, or null */
  megaflowDiffers: string | null;
  protocols: Protocols;
  /** ports file text (DEFAULT_PORTS when the case has none) */
  ports: string;
  flows: string;
  /** add-groups text, or null */
  groups: string | null;
  traces: CaseTrace[];
}

const SECTIONS = new Set(['options', 'ports', 'flows', 'groups', 'trace']);

/** Split a trace line's arguments into --ct-next flags, flow string and optional hex frame. */
export function splitTraceArgs(args: string[], where: string): Pick<CaseTrace, 'ctNext' | 'flow' | 'hex'> {
  const ctNext: string[] = [];
  let i = 0;
  while (args[i] === '--ct-next') {
    const f = args[i + 1];
    if (f === undefined) throw new Error(`${where}: --ct-next needs FLAGS`);
    ctNext.push(f);
    i += 2;
  }
  const flow = args[i];
  if (flow === undefined) throw new Error(`${where}: no flow string`);
  const rest = args.slice(i + 1);
  if (rest.length > 1) throw new Error(`${where}: expected FLOWSTRING [HEX], got ${args.slice(i).join(' ')}`);
  const hex = rest[0] ?? null;
  if (hex !== null && !/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new Error(`${where}: "${hex}" is not a hex frame`);
  return { ctNext, flow, hex };
}

/** Parse the text of case file 'name'. Throws Error naming the line on a malformed file. */
export function parseCase(name: string, text: string): CorpusCase {
  const lines = text.replace(/\r/g, '').split('\n');
  const description: string[] = [];
  let megaflowDiffers: string | null = null;
  let protocols: Protocols = 'OpenFlow10';
  const body: Record<string, string[]> = {};
  const traces: CaseTrace[] = [];
  let section: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const where = `${name}.case:${i + 1}`;
    const sec = /^--- (\S+)(.*)$/.exec(l);
    if (sec) {
      section = sec[1]!;
      if (!SECTIONS.has(section)) throw new Error(`${where}: unknown section "${section}"`);
      if (body[section] !== undefined) throw new Error(`${where}: section "${section}" given twice`);
      body[section] = [];
      const inline = sec[2]!.trim();
      if (inline) body[section]!.push(inline); // `--- options -O OpenFlow13`
      continue;
    }
    if (section === null) {
      if (l.trim() === '') continue;
      if (!l.startsWith('#')) throw new Error(`${where}: text before the first section must be # comments`);
      const c = l.replace(/^#\s?/, '');
      const md = /^megaflow-differs:\s*(.*)$/.exec(c);
      if (md) {
        if (!md[1]!.trim()) throw new Error(`${where}: megaflow-differs needs a reason`);
        megaflowDiffers = md[1]!.trim();
      } else description.push(c);
      continue;
    }
    if (section === 'trace') {
      const t = l.trim();
      if (t === '' || t.startsWith('#')) continue;
      const args = t.split(/\s+/);
      traces.push({ line: i + 1, args, ...splitTraceArgs(args, where) });
      continue;
    }
    body[section]!.push(l);
  }
  for (const o of (body.options ?? []).join(' ').split(/\s+/).filter((x) => x && !x.startsWith('#'))) {
    if (o === '-O') continue;
    if (o === 'OpenFlow13' || o === 'OpenFlow10') protocols = o;
    else throw new Error(`${name}.case: unknown option "${o}" (only -O OpenFlow10|OpenFlow13)`);
  }
  const flows = (body.flows ?? []).join('\n').trim();
  if (!flows) throw new Error(`${name}.case: no --- flows section`);
  if (traces.length === 0) throw new Error(`${name}.case: no trace lines`);
  const ports = body.ports ? `${body.ports.join('\n').trim()}\n` : DEFAULT_PORTS;
  parsePortsFile(ports); // a bad ports section is the corpus's fault: fail early
  const groups = body.groups ? body.groups.join('\n').trim() || null : null;
  return { name, description, megaflowDiffers, protocols, ports, flows: `${flows}\n`, groups: groups && `${groups}\n`, traces };
}

/** Every `*.case` file of 'dir' (this directory by default), by name. */
export function loadCorpus(dir = CORPUS_DIR): CorpusCase[] {
  return readdirSync(dir).filter((f) => f.endsWith('.case')).sort()
    .map((f) => parseCase(f.slice(0, -5), readFileSync(join(dir, f), 'utf8')));
}

/**
 * Set up bridge br0 of 'ovs' (a fresh sandbox) for case 'c' and trace each of its trace lines.
 * Returns OVS's raw trace texts, in order. Rejects with OvsCommandError when OVS refuses
 * something (a flow, a group, a trace flow string).
 */
export async function runCaseInOvs(ovs: OvsSandbox, c: CorpusCase): Promise<string[]> {
  const cfg = parsePortsFile(c.ports);
  const of13 = c.protocols === 'OpenFlow13';
  await ovs.addBridge('br0', cfg.ports.map((p) => ({ name: p.name, ofport: p.ofport, type: p.type, options: p.options })), {
    ...(cfg.hwaddr ? { hwaddr: cfg.hwaddr } : {}),
    ...(of13 ? { protocols: ['OpenFlow10', 'OpenFlow13'] } : {}),
  });
  for (const a of cfg.ip4) await ovs.ip4addr('br0', `${a.addr}/${a.prefixLen}`);
  for (const r of cfg.routes) await ovs.routeAdd(r.cidr, r.dev);
  for (const n of cfg.neighs) await ovs.neighSet('br0', n.ip, n.mac);
  const opts = of13 ? { protocols: 'OpenFlow13' } : undefined;
  if (c.groups) await ovs.addGroups('br0', c.groups, opts);
  await ovs.addFlows('br0', c.flows, opts);
  const out: string[] = [];
  for (const t of c.traces) {
    out.push(await ovs.trace('br0', t.flow, {
      ...(t.ctNext.length ? { ctNext: t.ctNext } : {}),
      ...(t.hex !== null ? { hex: t.hex } : {}),
    }));
  }
  return out;
}
