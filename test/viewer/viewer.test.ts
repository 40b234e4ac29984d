/**
 * The trace viewer in a real browser: headless Debian Chromium driven by
 * playwright-core, against the real trace server (a Session and a
 * TraceServer on 127.0.0.1, port 0) running the demo network
 * (src/topology/demo.ts `buildDemo`: the VXLAN overlay with a NAT gateway
 * whose floating IP leads across the tunnel). It sees packets arrive live, selects the ping to the
 * floating IP (DNAT on nat1, then VXLAN from hv2 to hv1) and finds its
 * path lit on the graph and the NAT, encap and decap hops listed; clicks
 * `vxlan.vni` and sees exactly its 3 bytes highlighted in the hex pane;
 * applies a filter, and a bad one shows the server's error column; steps
 * and steps back the clock; injects a ping from the form; exports the
 * selected packet as pcap and opens a capture for offline dissection;
 * writes screenshots under test-output/. No page error or console error
 * anywhere. Then, against a broken server of the test's own (junk bytes,
 * a dropped connection): the banner shows, the viewer reconnects, and the
 * banner goes. OVS cache tiers and a flow-drop on
 * examples/ovs-vxlan-overlay.yaml. And the demo as `sdnemu serve` runs it
 * (a child process, stopped by its pid): a ping across the overlay, its
 * path and tunnel hops, vxlan.vni, a filter, a step. With CI=true a missing chromium or playwright-core fails the
 * suite (describeNeeding), never skips it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Topology } from '../../src/topology/index.js';
import { buildTopology, loadTopology } from '../../src/topology/file.js';
import { WebSocketServer } from 'ws';
import { readPcap } from '../../src/pcap/index.js';
import { decodeClient, encode } from '../../src/trace/protocol.js';
import { dissect } from '../../src/wire/dissect/index.js';
import { DROP_REASONS } from '../../src/sim/tracer.js';
import { TraceStore } from '../../src/trace/store.js';
import { FilterError } from '../../src/trace/filter.js';
import { Session } from '../../src/trace/session.js';
import { TraceServer } from '../../src/trace/server.js';
import { loadViewerAssets } from '../../src/viewer/assets.js';
import { describeNeeding } from '../oracle/tools.js';
import { FLOATING_IP } from '../../src/topology/demo.js';
import { buildFullDemo, demoRequests } from '../../src/k8s/demo.js';

const CHROMIUM = '/usr/bin/chromium';
/** The flags this machine's Chromium needs (no sandbox as root, no background network: the network is closed). */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function hasPlaywright(): boolean {
  try { createRequire(import.meta.url).resolve('playwright-core'); return true; } catch { return false; }
}

const missing = [...(existsSync(CHROMIUM) ? [] : ['chromium (/usr/bin/chromium)']), ...(hasPlaywright() ? [] : ['playwright-core'])];
const OUT = 'test-output';
const WAIT = { timeout: 15_000 };

/** Launch headless Chromium with this machine's flags (playwright gives it a new empty profile and removes it on close). */
async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

interface Viewer { session: Session; server: TraceServer; browser: Browser; page: Page; problems: string[]; close(): Promise<void> }

/** A paused Session on 'build' with 'setup' traffic, its TraceServer on 127.0.0.1:0, and a page open on it that records every error. */
async function viewerOn(build: () => Topology, setup: (s: Session) => void): Promise<Viewer> {
  const session = new Session(build, { setup });
  const server = new TraceServer({ session, assets: await loadViewerAssets(), host: '127.0.0.1', port: 0 });
  await server.start();
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // failed loads are checked by their responses below (Chromium asks for /favicon.ico, which the server does not have)
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()} ${r.url()}`); });
  await page.goto(server.address());
  return {
    session, server, browser, page, problems,
    close: async () => { await browser.close(); await server.close(); session.close(); },
  };
}

/** The packet list's ICMP rows to 'dst'. */
const row = (dst: string): string => `#packets tr:has(td:nth-child(4):text-is("${dst}")):has(td:nth-child(5):text-is("ICMP"))`;

describeNeeding(missing, 'the trace viewer in headless Chromium', () => {
  let v: Viewer;
  let session: Session;
  let page: Page;
  let problems: string[];
  let serviceIP = '';

  beforeAll(async () => {
    let requests: { from: string; to: string; port: number }[] = [];
    v = await viewerOn(() => { const d = buildFullDemo(); requests = demoRequests(d.cluster); serviceIP = requests[0]!.to; return d.net; }, (s) => {
      s.start({ kind: 'ping', from: 'internet', to: FLOATING_IP, port: 0, count: 1, payload: '' });
      // each client pod asks the web Service four times: some SYN is DNATed to a backend on the other worker
      for (const r of [...requests, ...requests, ...requests, ...requests]) s.start({ kind: 'tcp', ...r, count: 1, payload: 'GET / HTTP/1.0\r\n\r\n' });
    });
    ({ session, page, problems } = v);
  });

  afterAll(async () => { await v?.close(); });

  it('shows the topology, then packets arriving live when the clock runs', async () => {
    await page.waitForSelector('#graph g.node[data-node="nat1"]', WAIT);
    expect(await page.locator('#graph g.node').count()).toBe(session.topology().nodes.length);
    await page.waitForSelector('#clock[data-running="false"]', WAIT);
    expect(await page.locator('#packets tr').count()).toBe(0);
    await page.click('#run');
    await page.waitForSelector(`${row(FLOATING_IP)}.v-delivered`, WAIT);
    await page.click('#pause');
    await page.waitForSelector('#clock[data-running="false"]', WAIT);
    expect(await page.locator('#packets tr').count()).toBeGreaterThan(3);
    // rows are coloured by verdict: the ARP exchanges are never delivered to a socket (in flight)
    expect(await page.locator('#packets tr.v-in-flight').count()).toBeGreaterThan(0);
  });

  it('selecting the ping to the floating IP lights its path and lists the DNAT, encap and decap hops', async () => {
    await page.click(row(FLOATING_IP));
    await page.waitForSelector('.hop[data-kind="decap"]', WAIT);
    const nat = page.locator('.hop[data-kind="nat"]');
    expect(await nat.count()).toBe(1);
    expect(await nat.locator('summary').textContent()).toContain('DNAT');
    expect(await nat.locator('.changes').textContent()).toContain(`ip.dst: ${FLOATING_IP} → 10.10.0.1`);
    const encap = page.locator('.hop[data-kind="encap"]');
    expect(await encap.count()).toBe(1);
    expect(await encap.locator('summary').textContent()).toMatch(/hv2.*VXLAN VNI 100 192\.168\.2\.2:\d+ > 192\.168\.1\.2:4789/);
    expect(await page.locator('.hop[data-kind="decap"] summary').textContent()).toContain('VXLAN VNI 100 from 192.168.2.2');
    const kinds = await page.locator('.hop').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    expect(kinds.indexOf('nat')).toBeLessThan(kinds.indexOf('encap'));
    expect(kinds.indexOf('encap')).toBeLessThan(kinds.indexOf('decap'));
    expect(kinds.at(-1)).toBe('deliver');
    const lit = await page.locator('#graph g.node.on').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')).sort());
    expect(lit).toEqual(['hv1', 'hv1/br0', 'hv1/vxlan100', 'hv2', 'hv2/br0', 'hv2/vxlan100', 'internet', 'nat1', 'underlay-r', 'vm1a']);
    const edges = await page.locator('#graph line.edge.on').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-a')}-${e.getAttribute('data-b')}`).sort());
    expect(edges).toHaveLength(9);
    expect(edges).toContain('hv2-hv2/vxlan100'); // the VTEP rides its host's stack
    expect(await page.locator('#graph line.edge.on[data-a="hv1"][data-b="hv2"]').count()).toBe(0);
  });

  it('clicking vxlan.vni highlights its 3 bytes in the hex pane', async () => {
    await page.click('.hop[data-kind="encap"] > summary');
    await page.waitForSelector('#tree details[data-proto="vxlan"]', WAIT);
    await page.click('#tree [data-field="vxlan.vni"]');
    const hl = await page.locator('#hex .b.hl').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-i')), e.textContent]));
    // Ethernet 14 + IPv4 20 + UDP 8: the VXLAN header at 42, its VNI in bytes 4..6
    expect(hl).toEqual([[46, '00'], [47, '00'], [48, '64']]);
    expect(await page.locator('#hex .c.hl').count()).toBe(3);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'viewer.png') });
  });

  it('a pod-to-Service packet: its path through kube-proxy\'s DNAT and the VXLAN tunnel, vxlan.vni, and what the other backends would have done', async () => {
    const crossed = session.store.query(`tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.addr == ${serviceIP} && hop.kind == "encap"`);
    expect(crossed.length).toBeGreaterThan(0);
    const p = crossed[0]!;
    await page.click(`#packets tr[data-packet="${p.id}"]`);
    await page.waitForSelector('.hop[data-kind="decap"]', WAIT);
    const nat = page.locator('.hop[data-kind="nat"]');
    expect(await nat.count()).toBe(1);
    expect(await nat.locator('summary').textContent()).toContain('DNAT');
    expect(await nat.locator('.changes').textContent()).toMatch(new RegExp(`ip\\.dst: ${serviceIP.replace(/\./g, '\\.')} → 10\\.244\\.\\d+\\.\\d+`));
    expect(await page.locator('.hop[data-kind="encap"] summary').textContent()).toContain('VXLAN');
    const kinds = await page.locator('.hop').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    expect(kinds.indexOf('nat')).toBeLessThan(kinds.indexOf('encap'));
    expect(kinds.indexOf('encap')).toBeLessThan(kinds.indexOf('decap'));
    expect(kinds.at(-1)).toBe('deliver');
    // the path: the client pod, its node and br-int, the node network, the backend's node, the backend pod
    const lit = await page.locator('#graph g.node.on').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')));
    expect(lit).toEqual(expect.arrayContaining([p.events[0]!.node, 'underlay', 'worker-1', 'worker-2', 'worker-1/br-int', 'worker-2/br-int']));
    expect(lit.filter((n) => n!.startsWith('default/web-'))).toHaveLength(1);
    // the pods and nodes are drawn as such, and the tunnel between the two workers' br-int is lit
    expect(await page.locator(`#graph g.node.kind-pod[data-node="${p.events[0]!.node}"]`).count()).toBe(1);
    // the cluster's three nodes, and the cloud's hypervisors (compute nodes): three and the network node
    const drawnNodes = await page.locator('#graph g.node.kind-node').evaluateAll((els) => els.map((e) => e.getAttribute('data-node') ?? ''));
    expect(drawnNodes.filter((n) => !/^(compute\d|network1)$/.test(n))).toHaveLength(3);
    expect(drawnNodes.filter((n) => /^(compute\d|network1)$/.test(n))).toHaveLength(4);
    // hv1–hv2, and the three nodes pairwise (beside the cloud's, between its hypervisors' br-tun)
    const tunnels = await page.locator('#graph path.tunnel').evaluateAll((els) => els.map((e) => e.getAttribute('data-a') ?? ''));
    expect(tunnels.filter((a) => !a.endsWith('/br-tun'))).toHaveLength(4);
    expect(tunnels.filter((a) => a.endsWith('/br-tun')).length).toBeGreaterThan(0);
    expect(await page.locator('#graph path.tunnel.on').evaluateAll((els) => els.map((e) => [e.getAttribute('data-a'), e.getAttribute('data-b')].sort().join(' '))))
      .toEqual(['worker-1/br-int worker-2/br-int']);
    // the VNI Antrea's tunnel port carries (key=flow, tun_id 0): its three bytes
    await page.click('.hop[data-kind="encap"] > summary');
    await page.waitForSelector('#tree details[data-proto="vxlan"]', WAIT);
    await page.click('#tree [data-field="vxlan.vni"]');
    const hl = await page.locator('#hex .b.hl').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-i')), e.textContent]));
    expect(hl).toEqual([[46, '00'], [47, '00'], [48, '00']]);
    // the KUBE-SVC- chain's probability rules chose one of three endpoints: fork the other two
    const lb = page.locator('.hop:has(.fork-btn)');
    expect(await lb.count()).toBe(1);
    await lb.locator('summary').click();
    await lb.locator('.fork-btn').click();
    await page.waitForSelector('.forks li.fork', WAIT);
    expect(await page.locator('.forks li.fork').count()).toBe(3);
    expect(await page.locator('.forks li.fork.taken').count()).toBe(1);
    const others = await page.locator('.forks li.fork:not(.taken)').evaluateAll((els) => els.map((e) => e.textContent ?? ''));
    for (const o of others) expect(o).toMatch(/^KUBE-SEP-\w+ — delivered/);
    await page.screenshot({ path: join(OUT, 'viewer-k8s.png') });
  });

  it('a filter narrows the list; a bad one shows the server\'s message and a caret at its column', async () => {
    await page.fill('#filter', 'vxlan.vni == 100');
    await page.click('#apply');
    await page.waitForSelector('#filter.good', WAIT);
    const shown = await page.locator('#packets tr').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-packet'))));
    expect(shown).toEqual(session.store.query('vxlan.vni == 100').map((p) => p.id));
    expect(shown.length).toBeLessThan(session.store.size);
    const bad = 'ip.addr == 10.0.0.1 && ip.ttl == "abc"';
    let err: FilterError | null = null;
    try { TraceStore.filter(bad); } catch (e) { err = e as FilterError; }
    expect(err).toBeInstanceOf(FilterError);
    await page.fill('#filter', bad);
    await page.click('#apply');
    await page.waitForSelector('#filter.bad', WAIT);
    expect(await page.locator('#filter-error .msg').textContent()).toBe(err!.message);
    const caret = await page.locator('#filter-error pre.caret').textContent();
    expect(caret!.split('\n')[1]!.indexOf('^')).toBe(err!.column - 1);
    expect(await page.locator('#packets tr').count()).toBe(shown.length); // the list keeps the last good filter
    await page.fill('#filter', '');
    await page.click('#apply');
    await page.waitForSelector('#filter-error', { state: 'hidden', ...WAIT });
  });

  it('steps the clock one event, and back', async () => {
    const before = Number(await page.getAttribute('#clock', 'data-events'));
    await page.click('#step');
    await page.waitForSelector(`#clock[data-events="${before + 1}"]`, WAIT);
    expect(session.state().events).toBe(before + 1);
    await page.click('#back');
    await page.waitForSelector(`#clock[data-events="${before}"]`, WAIT);
    expect(session.state().events).toBe(before);
    // Back rebuilt the server's store by a replay: the list is read again and matches it
    const ids = (): Promise<number[]> => page.locator('#packets tr').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-packet'))));
    await expect.poll(ids, { timeout: WAIT.timeout, interval: 100 }).toEqual(session.store.all().map((p) => p.id));
  });

  it('injects a ping from the form and sees it delivered', async () => {
    await page.selectOption('#inj-kind', 'ping');
    await page.selectOption('#inj-from', 'vm2a');
    await page.selectOption('#inj-to', 'vm1b');
    await page.click('#inject button[type="submit"]');
    await page.waitForSelector('#inj-note:text("sent")', WAIT);
    await page.click('#run');
    await page.waitForSelector(`${row('10.10.0.2')}.v-delivered`, WAIT);
    await page.click('#pause');
    await page.click(row('10.10.0.2'));
    await page.waitForSelector('.hop[data-kind="deliver"]', WAIT);
    await page.screenshot({ path: join(OUT, 'viewer-inject.png') });
  });

  it('exports the selected packet as pcap: its first frame', async () => {
    const id = Number(await page.getAttribute('#packets tr.selected', 'data-packet'));
    const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#export-sel')]);
    expect(download.suggestedFilename()).toBe(`sdnemu-packet-${id}.pcap`);
    const recs = [...readPcap(readFileSync((await download.path())!))];
    expect(recs).toHaveLength(1);
    expect(new Uint8Array(recs[0]!.data)).toEqual(session.store.get(id)!.events.find((e) => e.frame !== null)!.frame);
  });

  it('opens a pcap for offline dissection; vxlan.vni highlights there too', async () => {
    const file = 'pcap-samples/vxlan-kernel.pcap';
    const frames = [...readPcap(readFileSync(file))];
    await page.setInputFiles('#open-pcap', file);
    await page.waitForSelector('#offline tr[data-offline]', WAIT);
    expect(await page.locator('#offline tr[data-offline]').count()).toBe(frames.length);
    const i = frames.findIndex((f) => dissect(f.data).layers.some((l) => l.proto === 'vxlan'));
    await page.click(`#offline tr[data-offline="${i + 1}"]`);
    await page.click('#tree [data-field="vxlan.vni"]');
    const vx = dissect(frames[i]!.data).layers.find((l) => l.proto === 'vxlan')!;
    const hl = await page.locator('#hex .b.hl').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-i'))));
    expect(hl).toEqual([vx.offset + 4, vx.offset + 5, vx.offset + 6]);
    await page.click('#offline button');
    await page.waitForSelector('#offline', { state: 'hidden', ...WAIT });
    expect(problems).toEqual([]);
  });
});

describeNeeding(missing, 'the viewer against a broken trace server', () => {
  it('an unreadable message and a closed connection show the banner; it reconnects and the banner goes', async () => {
    const assets = await loadViewerAssets();
    const http = createServer((req, res) => {
      const a = assets.get(req.url === '/' ? '/index.html' : req.url ?? '');
      if (a === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': a.type }).end(a.body);
    });
    const wss = new WebSocketServer({ server: http, path: '/ws' });
    let connections = 0;
    wss.on('connection', (ws) => {
      const n = ++connections;
      if (n === 1) { ws.send(Uint8Array.of(0xc1, 0xff)); return; } // 0xc1 is no msgpack type
      if (n === 2) { setTimeout(() => ws.close(), 200); return; }
      ws.on('message', (data: Buffer) => {
        const m = decodeClient(new Uint8Array(data));
        const body = m.t === 'topology' ? { nodes: [{ name: 'solo', kind: 'host', ports: [] }], links: [] } : m.t === 'packets' ? [] : { ok: true };
        ws.send(encode({ t: 'reply', id: m.id, body }));
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const warnings: string[] = [], errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`);
      await page.waitForSelector('#graph g.node[data-node="solo"]', WAIT);
      await page.waitForSelector('#banner', { state: 'hidden', ...WAIT });
      expect(connections).toBe(3);
      expect(warnings.some((w) => w.includes('cannot read'))).toBe(true);
      expect(warnings.some((w) => w.includes('closed'))).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      wss.close();
      await new Promise((r) => http.close(r));
    }
  });
});

describeNeeding(missing, 'OVS decisions in the timeline (examples/ovs-vxlan-overlay.yaml)', () => {
  let v: Viewer;
  beforeAll(async () => {
    const loaded = loadTopology(readFileSync('examples/ovs-vxlan-overlay.yaml', 'utf8'));
    v = await viewerOn(() => buildTopology(loaded), (s) => s.start({ kind: 'ping', from: 'vm1', to: '10.10.0.2', port: 0, count: 2, payload: '' }));
  });
  afterAll(async () => { await v?.close(); });

  it('the first echo request is an upcall with its OpenFlow rules, the second a megaflow hit; a flow-drop is red, with its reason', async () => {
    const { page } = v;
    await page.click('#run');
    await expect.poll(() => page.locator(`${row('10.10.0.2')}.v-delivered`).count(), { timeout: WAIT.timeout, interval: 100 }).toBe(2);
    await page.click('#pause');
    const [first, second] = await page.locator(row('10.10.0.2')).evaluateAll((els) => els.map((e) => e.getAttribute('data-packet')));
    await page.click(`#packets tr[data-packet="${first}"]`);
    await page.waitForSelector('.hop[data-kind="flow"]', WAIT);
    const up = page.locator('.hop[data-kind="flow"]').first();
    await up.locator('summary').click();
    expect(await up.locator('summary').textContent()).toContain('hv1/br-int');
    expect(await up.locator('.hop-body').textContent()).toContain('upcall through the OpenFlow pipeline');
    expect(await up.locator('.hop-body').textContent()).toContain('OpenFlow rules matched');
    expect(await up.locator('.hop-body pre').nth(1).textContent()).toMatch(/priority=\d+.*actions=/);
    expect(await page.locator('#graph g.node.on[data-node="hv1/br-int"]').count()).toBe(1);
    await page.click(`#packets tr[data-packet="${second}"]`);
    await page.waitForSelector('.hop[data-kind="flow"] summary:has-text("megaflow cache hit")', WAIT);
    const hit = page.locator('.hop[data-kind="flow"]').first();
    await hit.locator('summary').click();
    expect(await hit.locator('dd').first().textContent()).toBe('megaflow cache hit');
    expect(await hit.locator('dd').nth(1).textContent()).toMatch(/^recirc_id\(0\),in_port\(\d+\)/);
    const dropped = page.locator('#packets tr.v-dropped');
    expect(await dropped.count()).toBeGreaterThan(0);
    expect(await dropped.first().getAttribute('title')).toContain('flow-drop');
    await dropped.first().click();
    await page.waitForSelector('.hop[data-kind="drop"]', WAIT);
    const drop = page.locator('.hop[data-kind="drop"]').first();
    await drop.locator('summary').click();
    expect(await drop.locator('.reason').textContent()).toBe(`flow-drop: ${DROP_REASONS['flow-drop']}`);
    expect(await page.locator('#graph g.node.dropped').count()).toBe(1);
    await page.screenshot({ path: join(OUT, 'viewer-ovs.png') });
    expect(v.problems).toEqual([]);
  });
});

describeNeeding(missing, 'the demo (`sdnemu serve`, what npm start runs) in headless Chromium', () => {
  let child: ChildProcess;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /sdnemu trace viewer: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m !== null) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`sdnemu serve exited ${code}: ${out}`)));
    });
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
  });

  afterAll(async () => {
    await browser?.close();
    if (child?.exitCode === null) await new Promise((r) => { child.on('exit', r); process.kill(child.pid!, 'SIGTERM'); });
  });

  it('a ping across the overlay: path, encap and decap hops, vxlan.vni, a filter, a step', async () => {
    // the demo's first ping: vm1a (10.10.0.1) to vm2a (10.10.0.3), across the tunnel
    await page.waitForSelector(`${row('10.10.0.3')}.v-delivered`, WAIT);
    await page.click('#pause');
    await page.click(row('10.10.0.3'));
    await page.waitForSelector('.hop[data-kind="decap"]', WAIT);
    const lit = await page.locator('#graph g.node.on').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')).sort());
    expect(lit).toEqual(['hv1', 'hv1/br0', 'hv1/vxlan100', 'hv2', 'hv2/br0', 'hv2/vxlan100', 'underlay-r', 'vm1a', 'vm2a']);
    await page.click('.hop[data-kind="encap"] > summary');
    await page.click('#tree [data-field="vxlan.vni"]');
    expect(await page.locator('#hex .b.hl').allTextContents()).toEqual(['00', '00', '64']);
    await page.fill('#filter', 'node == "vm2b"');
    await page.click('#apply');
    await page.waitForSelector('#filter.good', WAIT);
    const before = Number(await page.getAttribute('#clock', 'data-events'));
    await page.click('#step');
    await page.waitForSelector(`#clock[data-events="${before + 1}"]`, WAIT);
    await page.screenshot({ path: join(OUT, 'viewer-demo.png') });
    expect(errors).toEqual([]);
  });
});
