/**
 * The viewer's files (src/viewer/assets.ts, bundle.ts): three files with
 * their types, a browser bundle (no Node built-ins), and the build in
 * dist/viewer judged current only when made from the sources present.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadViewerAssets } from '../../src/viewer/assets.js';
import { APP_DIR, viewerIsCurrent, writeViewer } from '../../src/viewer/bundle.js';

it('serves index.html, app.js and app.css; the bundle is for the browser', async () => {
  const a = await loadViewerAssets();
  expect([...a.keys()].sort()).toEqual(['/app.css', '/app.js', '/index.html']);
  expect(a.get('/index.html')!.type).toMatch(/^text\/html/);
  expect(a.get('/app.js')!.type).toMatch(/^text\/javascript/);
  const js = new TextDecoder().decode(a.get('/app.js')!.body);
  expect(js).not.toMatch(/require\(["']node:|from ["']node:/);
  expect(js).toContain('vxlan.vni');
  const html = new TextDecoder().decode(a.get('/index.html')!.body);
  expect(html).toContain('src="app.js"');
  expect(html).not.toMatch(/https?:\/\//); // offline: nothing from elsewhere
});

it('a build is current until one of its inputs changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdnemu-viewer-'));
  try {
    await writeViewer(dir);
    expect(viewerIsCurrent(dir)).toBe(true);
    const inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')) as string[];
    expect(inputs).toContain('src/wire/dissect/ranges.ts');
    const css = join(APP_DIR, 'app.css');
    const was = statSync(css);
    const later = new Date(Date.now() + 60_000);
    try {
      utimesSync(css, later, later);
      expect(viewerIsCurrent(dir)).toBe(false);
    } finally {
      utimesSync(css, was.atime, was.mtime); // as it was: a build in dist/viewer stays current
    }
    writeFileSync(join(dir, 'inputs.json'), '["src/viewer/app/gone.ts"]');
    expect(viewerIsCurrent(dir)).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
