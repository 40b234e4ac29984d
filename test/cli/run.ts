/**
 * Running `sdnemu` as a user does, for the CLI tests: a child process on the TypeScript sources
 * through tsx, and a temporary directory for the files it reads (removed after the test file).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { tempDir } from '../oracle/tools.js';

const TSX = join('node_modules', '.bin', 'tsx');

export interface Run { status: number; stdout: string; stderr: string }

/** `sdnemu ARGS…` with 'input' on standard input. */
export function sdnemu(args: string[], input?: string): Run {
  const r = spawnSync(TSX, ['src/cli/main.ts', ...args], { encoding: 'utf8', maxBuffer: 64 << 20, ...(input !== undefined ? { input } : {}) });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A writer of files into one temporary directory per test file ('prefix' names it). */
export function scratch(prefix: string): { dir: string; file: (name: string, text: string | Uint8Array) => string } {
  const tmp = tempDir(prefix);
  afterAll(() => tmp.cleanup());
  return {
    dir: tmp.dir,
    file: (name, text) => {
      const p = join(tmp.dir, name);
      writeFileSync(p, text);
      return p;
    },
  };
}
