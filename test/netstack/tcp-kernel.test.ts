/**
 * The emulated TCP (src/netstack/tcp.ts) against the real Linux TCP, over a veth.
 *
 *     ns …-k (the kernel)                         ns …-r (the relay)
 *     ┌──────────────────────────────┐           ┌─────────────────────────────────────┐
 *     │ k0 10.77.0.1/24              │── veth ───│ wire (no address)                    │
 *     │ mac 02:4b:00:00:00:01        │           │ /usr/bin/python3: AF_PACKET socket,  │
 *     │ Python servers and clients   │           │ frames <-> stdout/stdin (4-byte      │
 *     └──────────────────────────────┘           │ big-endian length, then the frame)   │
 *                                                └─────────────────────────────────────┘
 *                                                    ⇅ this process: a TcpStack at
 *                                                      10.77.0.2, mac 02:45:00:00:00:02
 * The test's tiny host: frames from the relay are ARP requests for 10.77.0.2 (answered) or
 * IPv4/TCP for 10.77.0.2 (given to TcpStack.input; refused ones answered with a RST as a
 * Linux host would); TcpStack.send frames get their Ethernet addresses and go to the relay.
 * TX checksum offload is switched off on k0 (ETHTOOL_STXCSUM through an ioctl, as
 * test/oracle/netns.ts does), which also turns TSO off: the kernel's segments then cross the
 * veth with real checksums and at most MTU size, which is what a NIC would put on a wire.
 *
 * The clock: the Sim's virtual time follows real time loosely — every 2 ms (and before each
 * frame from the relay is handed in) `sim.runUntil((performance.now() - t0) * 1e6)` runs the
 * events that fell due. Timers (RTO, TIME_WAIT) therefore fire within a few ms of when the
 * kernel's would.
 *
 * Checked: (a) the emulated client against a Python server (request/response of 3 kB and
 * 200 kB, the kernel's ss -tan showing ESTAB, then CLOSE-WAIT after our FIN, then nothing once
 * the server closed; our side in TIME_WAIT); (b) a Python client against the emulated server
 * (ESTAB; the client closes first and the kernel holds TIME-WAIT; ours CLOSED); both sides
 * compare the exact bytes. On the kernel's own frames: TTL 64 and DF; SYN-ACK id 0 and only
 * an MSS option (we offered no others); a connected socket's ids count up by one — the choices
 * tcp.ts copies. (c) SYN retransmission: with net.ipv4.tcp_syn_retries=2 in the namespace the
 * kernel's SYNs (dropped by the test) come at 0, 1, 2, 3, 4, 5 s and connect() fails at 7 s
 * (tcp_syn_linear_timeouts = 4; the expiry is time-based); the emulated stack with synRetries 2
 * has the same schedule.
 * Every namespace is deleted and every process this file started is killed in a finally.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Sim, sec } from '../../src/sim/engine.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { ArpPacket } from '../../src/wire/arp.js';
import { Ipv4Packet } from '../../src/wire/ipv4.js';
import { TcpPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, seqAdd } from '../../src/wire/tcp.js';
import { TcpConn, TcpStack, type TcpStackOptions } from '../../src/netstack/tcp.js';
import { describeWithKernel, NetnsSet } from '../oracle/netns.js';
import { SYSTEM_PYTHON } from '../oracle/tools.js';
import { txChecksumOff } from '../oracle/frame-agent.js';

const KERNEL_IP = '10.77.0.1';
const EMU_IP = '10.77.0.2';
const KERNEL_MAC = '02:4b:00:00:00:01';
const EMU_MAC = '02:45:00:00:00:02';
const ipNum = (s: string): number => s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const macBytes = (s: string): Uint8Array => Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));

/** The relay: frames from 'wire' to stdout, frames from stdin onto 'wire'; "ready" on stderr once bound. */
const RELAY_PY = `
import socket, struct, sys, threading
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(('wire', 0))
out = sys.stdout.buffer
lock = threading.Lock()
def rx():
    while True:
        data, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        with lock:
            out.write(struct.pack('!I', len(data)) + data)
            out.flush()
threading.Thread(target=rx, daemon=True).start()
sys.stderr.write('ready\\n'); sys.stderr.flush()
inp = sys.stdin.buffer
while True:
    h = inp.read(4)
    if len(h) < 4:
        break
    n = struct.unpack('!I', h)[0]
    s.send(inp.read(n))
`;


/** Shared by the Python programs: length-prefixed messages, the response transform. */
const PY_COMMON = `
import hashlib, json, socket, sys, time
def recvall(c, n):
    b = bytearray()
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            return bytes(b)
        b += x
    return bytes(b)
def transform(d):
    return bytes(x ^ 0x5a for x in d)
`;

/** (a) A server on 10.77.0.1:7000: answers each length-prefixed request with its transform; on EOF prints what it got, then closes when told. */
const SERVER_PY = `${PY_COMMON}
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('${KERNEL_IP}', 7000))
srv.listen(4)
print('listening', flush=True)
c, addr = srv.accept()
got = []
while True:
    h = recvall(c, 4)
    if len(h) < 4:
        break
    d = recvall(c, int.from_bytes(h, 'big'))
    got.append(hashlib.sha256(d).hexdigest())
    r = transform(d)
    c.sendall(len(r).to_bytes(4, 'big') + r)
print(json.dumps({'eof': True, 'peer': addr[1], 'got': got}), flush=True)
sys.stdin.readline()
c.close()
srv.close()
print('closed', flush=True)
`;

/** (b) A client of 10.77.0.2:8000: sends the requests given in argv (sizes), checks the answers, waits to be told, closes. */
const CLIENT_PY = `${PY_COMMON}
c = socket.socket()
c.connect(('${EMU_IP}', 8000))
ok = []
for i, n in enumerate(int(x) for x in sys.argv[1:]):
    d = bytes((j * 7 + i) & 0xff for j in range(n))
    c.sendall(len(d).to_bytes(4, 'big') + d)
    h = recvall(c, 4)
    r = recvall(c, int.from_bytes(h, 'big'))
    ok.append(r == transform(d))
print(json.dumps({'port': c.getsockname()[1], 'ok': ok}), flush=True)
sys.stdin.readline()
c.close()
print('closed', flush=True)
`;

/** (c) A client whose SYNs go nowhere: prints the errno name and the seconds connect() took. */
const SYN_TIMEOUT_PY = `
import errno, socket, time
c = socket.socket()
t = time.monotonic()
try:
    c.connect(('${EMU_IP}', 9000))
    print('connected', flush=True)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), time.monotonic() - t, flush=True)
`;

/** The request bytes CLIENT_PY sends as its i-th request of 'n' bytes. */
function clientRequest(i: number, n: number): Uint8Array {
  const d = new Uint8Array(n);
  for (let j = 0; j < n; j++) d[j] = (j * 7 + i) & 0xff;
  return d;
}
const xor5a = (d: Uint8Array): Uint8Array => d.map((x) => x ^ 0x5a);

/** A child process whose stdout is read line by line. */
class Proc {
  readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  stderr = '';
  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) { this.lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); this.wake(); }
    });
    child.stderr!.on('data', (b: Buffer) => { this.stderr += b.toString('utf8'); this.wake(); });
    child.on('exit', () => this.wake());
  }
  private wake(): void { for (const w of this.waiters.splice(0)) w(); }
  /** Resolve with the first stdout line matching 'pred' (searching from 'from'). */
  async line(pred: (l: string) => boolean, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = this.lines.find(pred);
      if (l !== undefined) return l;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`process exited before the line: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for a line; stderr: ${this.stderr}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  send(line: string): void { this.child.stdin!.write(line + '\n'); }
  kill(): void { if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL'); }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Everything one run of this file owns. */
interface Rig {
  set: NetnsSet;
  nsK: string;
  procs: Proc[];
  relay: Proc;
  sim: Sim;
  stack: TcpStack;
  timer: NodeJS.Timeout;
  /** frames both ways, decoded, in the order this process saw them */
  seen: { dir: 'in' | 'out'; t: number; ip: { id: number; ttl: number; df: boolean }; flags: number; sport: number; dport: number; seq: number; mssOnly: boolean; mss: number; len: number; frame: Uint8Array }[];
  /** drop SYNs to this port instead of delivering them (for (c)) */
  dropSynTo: number;
  synTimes: number[];
}

let rig: Rig | null = null;

function python(nsName: string, code: string, args: string[] = []): Proc {
  const child = spawn('ip', ['netns', 'exec', nsName, SYSTEM_PYTHON, '-u', '-c', code, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.on('error', () => { /* the process may be gone; its exit is reported elsewhere */ });
  const p = new Proc(child);
  rig?.procs.push(p);
  return p;
}

function decodeTcp(frame: Uint8Array): Rig['seen'][number]['ip'] & { flags: number; sport: number; dport: number; seq: number; mssOnly: boolean; mss: number; len: number } | null {
  if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return null;
  const ip = new Ipv4Packet().reset(frame, 14, frame.length);
  if (ip.check() !== 0 || ip.protocol() !== 6) return null;
  const t = new TcpPacket().reset(frame, ip.payloadOffset(), ip.payloadEnd());
  if (t.check() !== 0) return null;
  const optLen = t.hdrLen() - 20;
  return {
    id: ip.ident(), ttl: ip.ttl(), df: ip.dontFrag(), flags: t.flags(), sport: t.srcPort(), dport: t.dstPort(), seq: t.seqNumber(),
    mss: t.mss(), mssOnly: optLen === 4 && t.mss() >= 0, len: t.payloadLen(),
  };
}

/** The kernel's `ss -tan` as [state, local, peer] rows. */
async function ss(r: Rig): Promise<string[][]> {
  const out = await r.set.exec(r.nsK, ['ss', '-tan']);
  return out.split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((c) => c.length >= 5).map((c) => [c[0]!, c[3]!, c[4]!]);
}

async function setUp(): Promise<Rig> {
  const set = new NetnsSet();
  const r = { set, procs: [] as Proc[], seen: [] as Rig['seen'], dropSynTo: -1, synTimes: [] as number[] } as unknown as Rig;
  rig = r;
  r.nsK = await set.add('k');
  const nsR = await set.add('r');
  await set.ipBatch(r.nsK, [
    `link add k0 address ${KERNEL_MAC} type veth peer name wire netns ${nsR}`,
    `addr add ${KERNEL_IP}/24 dev k0`,
    'link set lo up',
    'link set k0 up',
  ]);
  await set.ipBatch(nsR, ['link set wire up']);
  await txChecksumOff(set, r.nsK, ['k0']);
  await set.exec(r.nsK, ['sysctl', '-qw', 'net.ipv4.tcp_syn_retries=2']);

  const relay = python(nsR, RELAY_PY);
  r.relay = relay;
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`relay not ready: ${relay.stderr}`)), 10_000);
    const check = (): void => { if (relay.stderr.includes('ready')) { clearTimeout(t); res(); } };
    relay.child.stderr!.on('data', check);
    check();
  });

  // the emulated host
  const sim = new Sim({ seed: 2024 });
  r.sim = sim;
  const t0 = performance.now();
  const catchUp = (): void => { sim.runUntil((performance.now() - t0) * 1e6); };
  r.timer = setInterval(catchUp, 2);
  const kmac = macBytes(KERNEL_MAC), emac = macBytes(EMU_MAC);
  const emu = ipNum(EMU_IP);
  const toWire = (frame: Uint8Array): void => {
    const d = decodeTcp(frame);
    if (d !== null) r.seen.push({ dir: 'out', t: performance.now() - t0, ip: { id: d.id, ttl: d.ttl, df: d.df }, ...d, frame });
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32BE(frame.length);
    relay.child.stdin!.write(Buffer.concat([hdr, Buffer.from(frame)]));
  };
  r.stack = new TcpStack({
    sim,
    mtuTo: () => 1500,
    sourceFor: () => emu,
    send(frame) {
      frame.set(kmac, 0);
      frame.set(emac, 6);
      toWire(frame);
    },
  });
  const arp = new ArpPacket();
  const fromWire = (frame: Uint8Array): void => {
    catchUp();
    if (frame.length >= 42 && frame[12] === 0x08 && frame[13] === 0x06) {
      arp.reset(frame, 14, frame.length);
      if (arp.check() === 0 && arp.opcode() === 1 && arp.tpa() === emu) {
        toWire(new FrameBuilder().eth({ src: EMU_MAC, dst: frame.subarray(6, 12) })
          .arp({ op: 2, sha: EMU_MAC, spa: emu, tha: frame.subarray(22, 28), tpa: arp.spa() }).build());
      }
      return;
    }
    const d = decodeTcp(frame);
    if (d === null) return;
    r.seen.push({ dir: 'in', t: performance.now() - t0, ip: { id: d.id, ttl: d.ttl, df: d.df }, ...d, frame });
    if (d.dport === r.dropSynTo && (d.flags & TCP_SYN) !== 0) { r.synTimes.push(performance.now() - t0); return; }
    if (!r.stack.input(frame)) {
      // the host's answer to a segment no socket wants (tcp_v4_send_reset)
      const ip = new Ipv4Packet().reset(frame, 14, frame.length);
      const t = new TcpPacket().reset(frame, ip.payloadOffset(), ip.payloadEnd());
      if ((d.flags & TCP_RST) !== 0) return;
      const b = new FrameBuilder().eth({ src: EMU_MAC, dst: KERNEL_MAC }).ipv4({ src: ip.dst(), dst: ip.src(), df: true, ident: 0 });
      const segLen = t.payloadLen() + ((d.flags & TCP_SYN) !== 0 ? 1 : 0) + ((d.flags & TCP_FIN) !== 0 ? 1 : 0);
      toWire((d.flags & TCP_ACK) !== 0
        ? b.tcp({ srcPort: d.dport, dstPort: d.sport, seq: t.ackNumber(), flags: TCP_RST, window: 0 }).build()
        : b.tcp({ srcPort: d.dport, dstPort: d.sport, seq: 0, ack: seqAdd(d.seq, segLen), flags: TCP_RST | TCP_ACK, window: 0 }).build());
    }
  };
  let pending: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  relay.child.stdout!.removeAllListeners('data');
  relay.child.stdout!.on('data', (b: Buffer) => {
    pending = pending.length === 0 ? b : Buffer.concat([pending, b]);
    while (pending.length >= 4) {
      const n = pending.readUInt32BE(0);
      if (pending.length < 4 + n) break;
      fromWire(Uint8Array.from(pending.subarray(4, 4 + n)));
      pending = pending.subarray(4 + n);
    }
  });
  return r;
}

async function tearDown(): Promise<void> {
  const r = rig;
  rig = null;
  if (r === null) return;
  clearInterval(r.timer);
  try {
    for (const p of r.procs) {
      p.child.stdin?.end();
      p.kill();
    }
  } finally {
    await r.set.destroy();
  }
}

/** Wait (real time) until 'pred' holds, the sim catching up meanwhile. */
async function until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

/** Collects length-prefixed responses from a connection. */
function framer(c: TcpConn): { msgs: Uint8Array[] } {
  const st = { msgs: [] as Uint8Array[], buf: new Uint8Array(0) };
  c.onData = (d) => {
    const b = new Uint8Array(st.buf.length + d.length);
    b.set(st.buf);
    b.set(d, st.buf.length);
    st.buf = b;
    for (;;) {
      if (st.buf.length < 4) break;
      const n = ((st.buf[0]! << 24) | (st.buf[1]! << 16) | (st.buf[2]! << 8) | st.buf[3]!) >>> 0;
      if (st.buf.length < 4 + n) break;
      st.msgs.push(st.buf.slice(4, 4 + n));
      st.buf = st.buf.slice(4 + n);
    }
  };
  return st;
}

function withLength(d: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + d.length);
  b[0] = d.length >>> 24; b[1] = d.length >>> 16; b[2] = d.length >>> 8; b[3] = d.length;
  b.set(d, 4);
  return b;
}

const sha256 = async (d: Uint8Array): Promise<string> => {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(d).digest('hex');
};

describeWithKernel('emulated TCP against the Linux kernel', () => {
  beforeAll(async () => { await setUp(); }, 30_000);
  afterAll(async () => { await tearDown(); }, 30_000);

  it('(a) the emulated client and a Linux server: requests, responses, ESTAB, CLOSE-WAIT, then gone; ours TIME_WAIT', async () => {
    const r = rig!;
    const server = python(r.nsK, SERVER_PY);
    await server.line((l) => l === 'listening');
    const c = r.stack.connect(ipNum(KERNEL_IP), 7000);
    const resp = framer(c);
    let connected = false;
    c.onConnect = () => { connected = true; };
    await until(() => connected, 'connect');
    const req1 = clientRequest(1, 3000), req2 = clientRequest(2, 200_000);
    c.send(withLength(req1));
    await until(() => resp.msgs.length === 1, 'response 1');
    c.send(withLength(req2));
    await until(() => resp.msgs.length === 2, 'response 2');
    expect(resp.msgs[0]).toEqual(xor5a(req1));
    expect(resp.msgs[1]!.length).toBe(200_000);
    expect(Buffer.from(resp.msgs[1]!).equals(Buffer.from(xor5a(req2)))).toBe(true);
    const tuple = (rows: string[][]): string[] | undefined => rows.find((x) => x[1] === `${KERNEL_IP}:7000` && x[2] === `${EMU_IP}:${c.localPort}`);
    expect(tuple(await ss(r))?.[0]).toBe('ESTAB');

    c.close();
    const report = JSON.parse(await server.line((l) => l.startsWith('{'))) as { peer: number; got: string[] };
    expect(report.peer).toBe(c.localPort);
    expect(report.got).toEqual([await sha256(req1), await sha256(req2)]);
    await until(() => c.state === 'FIN_WAIT_2', 'FIN_WAIT_2');
    expect(tuple(await ss(r))?.[0]).toBe('CLOSE-WAIT');

    server.send('close');
    await server.line((l) => l === 'closed');
    await until(() => c.state === 'TIME_WAIT', 'TIME_WAIT');
    await sleep(50);
    expect(tuple(await ss(r))).toBeUndefined(); // LAST-ACK answered: the kernel socket is gone
    expect(c.totalRetrans).toBe(0);
    expect(c.bytesAcked).toBe(4 + 3000 + 4 + 200_000);

    // the kernel's segments on this connection: TTL 64, DF; SYN-ACK id 0 with an MSS option only
    const k = r.seen.filter((s) => s.dir === 'in' && s.sport === 7000);
    expect(k.every((s) => s.ip.ttl === 64 && s.ip.df)).toBe(true);
    const synAck = k.find((s) => s.flags === (TCP_SYN | TCP_ACK))!;
    expect([synAck.ip.id, synAck.mssOnly, synAck.mss]).toEqual([0, true, 1460]);
    // then the full socket counts its ids up by one per segment, as ours do
    const ids = k.filter((s) => s !== synAck).map((s) => s.ip.id);
    expect(ids).toEqual(ids.map((_, i) => (ids[0]! + i) & 0xffff));
    const ours = r.seen.filter((s) => s.dir === 'out' && s.dport === 7000).map((s) => s.ip.id);
    expect(ours.length).toBeGreaterThan(10);
    expect(ours).toEqual(ours.map((_, i) => (ours[0]! + i) & 0xffff));
    expect(r.seen.every((s) => s.frame.length <= 1514)).toBe(true);
  }, 30_000);

  it('(b) a Linux client and the emulated server: exact bytes both ways; the client closes first and Linux holds TIME-WAIT', async () => {
    const r = rig!;
    const sizes = [1, 1500, 100_000];
    const accepted: TcpConn[] = [];
    const gotAll: Uint8Array[] = [];
    let serverClosed = false;
    const l = r.stack.listen(8000, (c) => {
      accepted.push(c);
      let buf = new Uint8Array(0);
      c.onData = (d) => {
        gotAll.push(d.slice());
        const b = new Uint8Array(buf.length + d.length);
        b.set(buf);
        b.set(d, buf.length);
        buf = b;
        while (buf.length >= 4) {
          const n = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
          if (buf.length < 4 + n) break;
          c.send(withLength(xor5a(buf.subarray(4, 4 + n))));
          buf = buf.slice(4 + n);
        }
      };
      c.onClose = () => { serverClosed = true; };
    });
    const client = python(r.nsK, CLIENT_PY, sizes.map(String));
    const report = JSON.parse(await client.line((l2) => l2.startsWith('{'))) as { port: number; ok: boolean[] };
    expect(report.ok).toEqual([true, true, true]);
    expect(accepted.length).toBe(1);
    const c = accepted[0]!;
    expect(c.remotePort).toBe(report.port);
    // every byte the client sent, in order
    const total = gotAll.reduce((a, d) => a + d.length, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const d of gotAll) { all.set(d, o); o += d.length; }
    const want = sizes.map((n, i) => withLength(clientRequest(i, n)));
    const wantAll = new Uint8Array(want.reduce((a, d) => a + d.length, 0));
    o = 0;
    for (const d of want) { wantAll.set(d, o); o += d.length; }
    expect(Buffer.from(all).equals(Buffer.from(wantAll))).toBe(true);
    const tuple = (rows: string[][]): string[] | undefined => rows.find((x) => x[1] === `${KERNEL_IP}:${report.port}` && x[2] === `${EMU_IP}:8000`);
    expect(tuple(await ss(r))?.[0]).toBe('ESTAB');
    expect(c.state).toBe('ESTABLISHED');

    client.send('close');
    await client.line((l2) => l2 === 'closed');
    await until(() => serverClosed && c.state === 'CLOSED', 'server side CLOSED');
    await sleep(50);
    expect(tuple(await ss(r))?.[0]).toBe('TIME-WAIT');
    l.close();

    // the kernel's SYN: TTL 64, DF, and a random id its socket then counts up from
    const k = r.seen.filter((s) => s.dir === 'in' && s.dport === 8000);
    const syn = k[0]!;
    expect(syn.flags).toBe(TCP_SYN);
    expect([syn.ip.ttl, syn.ip.df]).toEqual([64, true]);
    const ids = k.map((s) => s.ip.id);
    expect(ids).toEqual(ids.map((_, i) => (ids[0]! + i) & 0xffff));
    // our SYN-ACK: id 0 (no full socket yet), MSS 1460 only
    const ourSynAck = r.seen.find((s) => s.dir === 'out' && s.sport === 8000 && s.flags === (TCP_SYN | TCP_ACK))!;
    expect([ourSynAck.ip.id, ourSynAck.mssOnly, ourSynAck.mss]).toEqual([0, true, 1460]);
  }, 30_000);

  it('(c) SYN retransmission and connect timeout: the kernel and the emulated stack keep the same schedule', async () => {
    const r = rig!;
    r.dropSynTo = 9000;
    const client = python(r.nsK, SYN_TIMEOUT_PY);
    const line = await client.line((l2) => l2.length > 0, 20_000);
    const [errno, secs] = line.split(' ');
    expect(errno).toBe('ETIMEDOUT');
    const kernelSyns = r.synTimes.map((t) => (t - r.synTimes[0]!) / 1000);

    // the emulated stack with the namespace's settings, on a virtual clock of its own
    const opts: TcpStackOptions = { synRetries: 2 };
    const sim = new Sim({ seed: 1 });
    const sent: number[] = [];
    const emu = new TcpStack({ sim, mtuTo: () => 1500, sourceFor: () => 1, send: () => sent.push(sim.now / 1e9) }, opts);
    const c = emu.connect(2, 9000);
    let failedAt = -1;
    c.onError = (e) => { if (e.code === 'ETIMEDOUT') failedAt = sim.now / 1e9; };
    sim.runFor(sec(60));
    expect(sent).toEqual([0, 1, 2, 3, 4, 5]);
    expect(failedAt).toBe(7);
    // the kernel's timers run a little late (jiffies): ~2 % seen, 5 % + 100 ms allowed
    expect(kernelSyns.length).toBe(sent.length);
    kernelSyns.forEach((t, i) => expect(Math.abs(t - sent[i]!)).toBeLessThan(0.05 * sent[i]! + 0.1));
    expect(Math.abs(Number(secs) - failedAt)).toBeLessThan(0.05 * failedAt + 0.1);
  }, 30_000);
});
