/**
 * Access to the real tools the differential tests compare against
 * (tshark, scapy via Debian's /usr/bin/python3, tcpdump, Open vSwitch — see ovs.ts).
 *
 * Rule (DEVELOPERS.md): with CI=true a differential test whose tool is missing
 * FAILS; it never skips silently. Outside CI it is skipped with the reason
 * printed, so a laptop without tshark can still run the rest.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
/** Debian's scapy lives in the system Python (ORACLES.md). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

function has(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

export const tools = {
  tshark: has('tshark', ['--version']),
  tcpdump: has('tcpdump', ['--version']),
  scapy: existsSync(SYSTEM_PYTHON) && has(SYSTEM_PYTHON, ['-c', 'import scapy.all']),
  /** userspace Open vSwitch (ovs-vswitchd lives in /usr/sbin, which a non-root PATH may lack) */
  ovs: (has('ovs-vswitchd', ['--version']) || has('/usr/sbin/ovs-vswitchd', ['--version'])) && has('ovs-ofctl', ['--version']),
};

/**
 * `describe` that runs when 'tool' is present; in CI a missing tool makes the
 * suite fail loudly instead of skipping.
 */
export function describeWith(tool: keyof typeof tools, name: string, fn: () => void): void {
  describeNeeding(tools[tool] ? [] : [tool], name, fn);
}

/**
 * `describe` for a suite that needs what 'missing' does not list: it runs
 * when 'missing' is empty; in CI (CI=true) the suite fails naming what is
 * missing; elsewhere it is skipped with the reason printed — never silently.
 */
export function describeNeeding(missing: string[], name: string, fn: () => void): void {
  if (missing.length === 0) {
    describe(name, fn);
  } else if (IN_CI) {
    describe(name, () => {
      throw new Error(`${missing.join(', ')} required in CI (CI=true) but not found on this machine`);
    });
  } else {
    console.warn(`[sdnemu tests] skipping "${name}": missing ${missing.join(', ')}`);
    describe.skip(name, fn);
  }
}

/** Run a Python snippet with Debian's scapy imported (`from scapy.all import *`); returns stdout. */
export function scapy(code: string): string {
  const src = `import sys\nfrom scapy.all import *\n${code}\n`;
  return execFileSync(SYSTEM_PYTHON, ['-c', src], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** Hex of `bytes(PKT)` for a scapy expression, as a Uint8Array. */
export function scapyBytes(expr: string): Uint8Array {
  const hex = scapy(`sys.stdout.write(bytes(${expr}).hex())`).trim();
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** A temporary directory removed by the returned cleanup function. */
export function tempDir(prefix = 'sdnemu-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The preferences under which tshark dissects as sdnemu's dissector does: one packet at a time
 * (no IP defragmentation, no TCP analysis or reassembly), raw sequence numbers.
 */
export const DISSECTOR_PREFS = [
  'ip.defragment:FALSE', 'ipv6.defragment:FALSE', 'tcp.relative_sequence_numbers:FALSE', 'tcp.analyze_sequence_numbers:FALSE',
  'tcp.desegment_tcp_streams:FALSE',
];

export interface TsharkOptions {
  /** extra `-d` decode-as rules, e.g. `udp.port==8472,vxlan` */
  decodeAs?: string[];
  /** extra `-o name:value` preferences, e.g. `tcp.relative_sequence_numbers:FALSE` */
  prefs?: string[];
}

/**
 * Run `tshark -T fields` on 'pcapPath' with checksum validation on; returns one
 * record per packet mapping each requested field to tshark's text ('' when absent).
 * Occurrences of a field in several layers are joined by ',' as tshark prints them.
 */
export function tsharkFields(pcapPath: string, fields: string[], opts: TsharkOptions = {}): Record<string, string>[] {
  const args = ['-r', pcapPath, '-n', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,',
    '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE'];
  for (const d of opts.decodeAs ?? []) args.push('-d', d);
  for (const o of opts.prefs ?? []) args.push('-o', o);
  for (const f of fields) args.push('-e', f);
  const out = execFileSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = out.split('\n').filter((l) => l.length > 0);
  return lines.map((line) => {
    const cols = line.split('\t');
    const rec: Record<string, string> = {};
    fields.forEach((f, i) => { rec[f] = cols[i] ?? ''; });
    return rec;
  });
}

/** Write 'frames' to a temporary classic pcap (µs, Ethernet) and return its path and a cleanup. */
export function writeTempPcap(frames: Uint8Array[], linktype = 1): { path: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0); gh.writeUInt16LE(2, 4); gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(262144, 16); gh.writeUInt32LE(linktype, 20);
  parts.push(gh);
  frames.forEach((f, i) => {
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(1700000000 + i, 0); rh.writeUInt32LE(0, 4);
    rh.writeUInt32LE(f.length, 8); rh.writeUInt32LE(f.length, 12);
    parts.push(rh, Buffer.from(f));
  });
  const path = join(dir, 'frames.pcap');
  writeFileSync(path, Buffer.concat(parts));
  return { path, cleanup };
}
