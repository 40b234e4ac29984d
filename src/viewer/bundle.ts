/**
 * Building the browser app (viewer, build side; runs in Node).
 *
 * What: `bundleViewer()` bundles src/viewer/app/main.ts — with what it
 * imports from below (trace/protocol.ts and msgpackr, sim/tracer.ts's
 * drop reasons, wire/dissect and its codecs, the `buffer` package) — into
 * one ES module with esbuild for the browser (platform browser: msgpackr's
 * browser build, no Node built-ins; a Node-only import fails the build),
 * and returns the three files the server serves: /index.html, /app.js,
 * /app.css. `writeViewer()` writes them to dist/viewer/ with
 * `inputs.json`, the source files the bundle was made from, so
 * `viewerIsCurrent()` can tell a stale build (any input newer than app.js,
 * or gone) from a current one. `npm run build` calls writeViewer.
 * Works offline: nothing is fetched; the page loads only these files.
 * Neighbours: assets.ts (serves the result or bundles in memory), app/
 * (the sources), package.json's build script.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset { type: string; body: Uint8Array }

/** The package root (this file is src/viewer/bundle.ts or dist/viewer/bundle.js). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const APP_DIR = join(ROOT, 'src', 'viewer', 'app');
export const DIST_DIR = join(ROOT, 'dist', 'viewer');

export const TYPES: Record<string, string> = {
  '/index.html': 'text/html; charset=utf-8',
  '/app.js': 'text/javascript; charset=utf-8',
  '/app.css': 'text/css; charset=utf-8',
};

/** Bundle the app in memory: its files by URL path, and the source files it was made from (relative to the root). */
export async function bundleViewer(): Promise<{ assets: Map<string, Asset>; inputs: string[] }> {
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [join(APP_DIR, 'main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    outfile: 'app.js',
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const js = out.outputFiles.find((f) => f.path.endsWith('.js'));
  if (js === undefined) throw new Error('esbuild produced no app.js');
  const enc = new TextEncoder();
  const assets = new Map<string, Asset>([
    ['/index.html', { type: TYPES['/index.html']!, body: readFileSync(join(APP_DIR, 'index.html')) }],
    ['/app.js', { type: TYPES['/app.js']!, body: js.contents }],
    ['/app.css', { type: TYPES['/app.css']!, body: enc.encode(readFileSync(join(APP_DIR, 'app.css'), 'utf8')) }],
  ]);
  const inputs = [...Object.keys(out.metafile.inputs).map((p) => relative(ROOT, join(process.cwd(), p))), 'src/viewer/app/index.html', 'src/viewer/app/app.css'];
  return { assets, inputs };
}

/** Bundle and write dist/viewer/{index.html, app.js, app.css, inputs.json}. */
export async function writeViewer(dir = DIST_DIR): Promise<void> {
  const { assets, inputs } = await bundleViewer();
  mkdirSync(dir, { recursive: true });
  for (const [path, a] of assets) writeFileSync(join(dir, path.slice(1)), a.body);
  writeFileSync(join(dir, 'inputs.json'), JSON.stringify(inputs, null, 1));
}

/**
 * True when dist/viewer holds a build made from the sources present: app.js
 * is no older than any input. Without the sources (a package installed
 * without src/viewer/app) the build is all there is, so it is current.
 */
export function viewerIsCurrent(dir = DIST_DIR): boolean {
  const files = ['index.html', 'app.js', 'app.css', 'inputs.json'].map((f) => join(dir, f));
  if (!files.every((f) => existsSync(f))) return false;
  if (!existsSync(APP_DIR)) return true;
  let inputs: unknown;
  try { inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')); } catch { return false; }
  if (!Array.isArray(inputs)) return false;
  const built = statSync(join(dir, 'app.js')).mtimeMs;
  for (const p of inputs) {
    const abs = join(ROOT, String(p));
    if (!existsSync(abs) || statSync(abs).mtimeMs > built) return false;
  }
  return true;
}
