/**
 * A progress bar for long benchmarks and long topology builds: one line on
 * stderr, redrawn in place (at most ~10 times a second), shown only when
 * stderr is a terminal and CI is not set — in CI, under a pipe or in a child
 * process whose stderr is captured it prints nothing, so logs and results
 * stay clean.
 * Used by bench/run.ts (suites), bench/k8s.bench.ts and bench/compute.bench.ts
 * (nodes, pods, VMs) and bench/phases.ts (whether to echo a phase).
 * Neighbours: bench/phases.ts.
 */

/** Whether progress should be shown: stderr is a terminal and CI is unset (or "false"/"0"). */
export function interactive(env: NodeJS.ProcessEnv = process.env, tty: boolean = process.stderr.isTTY === true): boolean {
  const ci = env['CI'];
  return tty && (ci === undefined || ci === '' || ci === 'false' || ci === '0');
}

export interface Progress {
  /** 'n' more items done (default 1); 'note' replaces the text after the bar */
  tick(n?: number, note?: string): void;
  /** the bar at 100 %, then a newline (a no-op when not shown) */
  done(note?: string): void;
}

const WIDTH = 28;

/** The bar's text for 'done' of 'total' items (exported for its test). */
export function barText(label: string, done: number, total: number, elapsedMs: number, note = ''): string {
  const f = total > 0 ? Math.min(done / total, 1) : 1;
  const full = Math.round(f * WIDTH);
  const eta = f > 0 && f < 1 ? ` eta ${Math.round((elapsedMs * (1 - f)) / f / 1000)} s` : '';
  return `${label} [${'#'.repeat(full)}${'.'.repeat(WIDTH - full)}] ${done}/${total} ${Math.round(elapsedMs / 1000)} s${eta}${note === '' ? '' : ` ${note}`}`;
}

const SILENT: Progress = { tick: () => {}, done: () => {} };

/** A bar for 'total' items labelled 'label'; silent unless `interactive()`. */
export function progress(label: string, total: number, show: boolean = interactive()): Progress {
  if (!show) return SILENT;
  const t0 = Date.now();
  let done = 0, last = 0, note = '';
  const draw = (): void => {
    const line = barText(label, done, total, Date.now() - t0, note);
    const cols = process.stderr.columns > 20 ? process.stderr.columns : 100;
    process.stderr.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
  };
  draw();
  return {
    tick(n = 1, text?: string): void {
      done += n;
      if (text !== undefined) note = text;
      const now = Date.now();
      if (now - last >= 100 || done >= total) { last = now; draw(); }
    },
    done(text?: string): void {
      done = total;
      if (text !== undefined) note = text;
      draw();
      process.stderr.write('\n');
    },
  };
}
