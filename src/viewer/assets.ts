/**
 * The viewer's files (viewer layer), as the trace server serves them.
 * What: `loadViewerAssets()` gives every file of the browser app by URL path
 * ('/index.html', '/app.js' …) with its content type. (A placeholder page
 * until the app lands.)
 * Neighbours: trace/server.ts (serves them), cli (wires the two).
 */
export interface Asset { type: string; body: Uint8Array }

export async function loadViewerAssets(): Promise<Map<string, Asset>> {
  const page = '<!doctype html><meta charset="utf-8"><title>sdnemu trace viewer</title><p>sdnemu trace viewer</p>';
  return new Map([['/index.html', { type: 'text/html; charset=utf-8', body: new TextEncoder().encode(page) }]]);
}
