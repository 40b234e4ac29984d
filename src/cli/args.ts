/**
 * Minimal command-line parsing for `sdnemu` (cli layer, slow path).
 * GNU-style: `--flag`, `--opt value`, `--opt=value`, `-w value`, `--` ends
 * options. Unknown options are errors naming the option, as users expect
 * from tcpdump or ovs-ofctl. `signalled()`: the long-running commands'
 * stop (serve, shard).
 */
import { InputError } from '../errors.js';

export interface OptionSpec {
  /** long name without dashes */
  name: string;
  /** single-letter alias without the dash */
  short?: string;
  /** takes a value */
  value?: boolean;
  /** may be given several times (values collected) */
  repeat?: boolean;
}

export interface Parsed {
  positional: string[];
  flags: Set<string>;
  values: Map<string, string[]>;
}

export function parseArgs(argv: string[], specs: OptionSpec[]): Parsed {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const out: Parsed = { positional: [], flags: new Set(), values: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out.positional.push(...argv.slice(i + 1)); break; }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (eq >= 0) inline = a.slice(eq + 1);
      spec = byLong.get(name);
      if (!spec) throw new InputError('CLI_UNKNOWN_OPTION', a, `unrecognized option '${a}'`);
    } else if (a.startsWith('-') && a.length > 1) {
      spec = byShort.get(a.slice(1, 2));
      if (!spec) throw new InputError('CLI_UNKNOWN_OPTION', a, `invalid option -- '${a.slice(1)}'`);
      if (a.length > 2) inline = a.slice(2);
    } else {
      out.positional.push(a);
      continue;
    }
    if (spec.value) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new InputError('CLI_MISSING_VALUE', a, `option '${a}' requires an argument`);
      const list = out.values.get(spec.name) ?? [];
      if (!spec.repeat && list.length > 0) throw new InputError('CLI_DUPLICATE_OPTION', a, `option '${a}' given twice`);
      list.push(v);
      out.values.set(spec.name, list);
    } else {
      if (inline !== undefined) throw new InputError('CLI_UNEXPECTED_VALUE', a, `option '--${spec.name}' doesn't allow an argument`);
      out.flags.add(spec.name);
    }
  }
  return out;
}

/** Resolves on the first SIGINT or SIGTERM (a terminal's Ctrl-C, what a pod's kubelet sends). */
export function signalled(): Promise<void> {
  return new Promise((resolveStop) => {
    const done = (): void => { process.off('SIGINT', done); process.off('SIGTERM', done); resolveStop(); };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
