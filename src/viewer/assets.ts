/**
 * The viewer's files (viewer layer), as the trace server serves them.
 * What: `loadViewerAssets()` gives every file of the browser app by URL
 * path ('/index.html', '/app.js', '/app.css') with its content type: the
 * build in dist/viewer/ when it is there and current (bundle.ts
 * `viewerIsCurrent`: made from the sources present), else a bundle made
 * now in memory with esbuild — so tests under tsx and a checkout edited
 * since the last `npm run build` serve the code as it is. Without esbuild
 * (a production install) and without a build, it fails naming the fix.
 * Neighbours: trace/server.ts (serves them), bundle.ts (builds them), cli
 * (wires the two).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST_DIR, TYPES, bundleViewer, viewerIsCurrent, type Asset } from './bundle.js';

export type { Asset } from './bundle.js';

export async function loadViewerAssets(): Promise<Map<string, Asset>> {
  if (viewerIsCurrent()) {
    return new Map(Object.entries(TYPES).map(([path, type]) => [path, { type, body: readFileSync(join(DIST_DIR, path.slice(1))) }]));
  }
  try {
    return (await bundleViewer()).assets;
  } catch (e) {
    throw new Error(`the trace viewer is not built and cannot be bundled now (${(e as Error).message}); run npm run build`);
  }
}
