/**
 * A frame agent: a /usr/bin/python3 process inside a network namespace with an AF_PACKET socket
 * on one interface, driven by lines on stdin (test oracle, not part of src/). `send(frame)`
 * injects a frame; `drain()` returns the frames the interface received since the last drain
 * (its own sends left out), with an 802.1Q/802.1ad tag the kernel stripped into metadata put
 * back in the bytes (PACKET_AUXDATA). Also `txChecksumOff`: switching TX checksum offload off on
 * an interface, so frames a namespace builds cross a veth with real checksums.
 * Neighbours: netns.ts (namespaces), the kernel tests of the bridge, the VTEP and TCP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SYSTEM_PYTHON } from './tools.js';
import type { NetnsSet } from './netns.js';

/** 'cmd' resolved against PATH and the sbin directories (ip lives in /usr/sbin). */
export function bin(cmd: string): string {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return cmd;
}

const AGENT_PY = `
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 3))
s.setsockopt(263, 8, 1)  # SOL_PACKET, PACKET_AUXDATA
s.setblocking(False)
print('ready', flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == 'S':
        s.send(bytes.fromhex(cmd[1]))
        print('ok', flush=True)
    elif cmd[0] == 'D':
        while True:
            try:
                data, anc, fl, addr = s.recvmsg(65536, 256)
            except BlockingIOError:
                break
            if addr[2] == 4:  # PACKET_OUTGOING: our own send
                continue
            for lvl, typ, cd in anc:
                if lvl == 263 and typ == 8:
                    st, ln, sn, mac, net, tci, tpid = struct.unpack('IIIHHHH', cd[:20])
                    if st & 0x10:  # TP_STATUS_VLAN_VALID
                        if not st & 0x40:  # TP_STATUS_VLAN_TPID_VALID
                            tpid = 0x8100
                        data = data[:12] + struct.pack('!HH', tpid, tci) + data[12:]
            print('F', data.hex())
        print('end', flush=True)
`;

export class FrameAgent {
  private buf = '';
  private readonly lines: string[] = [];
  private readonly waiters: ((l: string) => void)[] = [];
  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.buf += d;
      let k: number;
      while ((k = this.buf.indexOf('\n')) >= 0) {
        const l = this.buf.slice(0, k);
        this.buf = this.buf.slice(k + 1);
        const w = this.waiters.shift();
        if (w !== undefined) w(l); else this.lines.push(l);
      }
    });
  }

  /** An agent on 'dev' in namespace 'ns'; 'track' learns of the process (to kill it in a finally). */
  static async start(ns: string, dev: string, track: (c: ChildProcess) => void): Promise<FrameAgent> {
    const child = spawn(bin('ip'), ['netns', 'exec', ns, SYSTEM_PYTHON, '-u', '-c', AGENT_PY, dev], { stdio: ['pipe', 'pipe', 'pipe'] });
    track(child);
    let err = '';
    child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    const a = new FrameAgent(child);
    const first = await a.line(() => err);
    if (first !== 'ready') throw new Error(`agent in ${ns}: ${first} ${err}`);
    return a;
  }

  private line(err: () => string = () => ''): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`agent silent for 5 s ${err()}`)), 5000);
      this.waiters.push((x) => { clearTimeout(t); resolve(x); });
    });
  }

  async send(frame: Uint8Array): Promise<void> {
    this.child.stdin!.write(`S ${Buffer.from(frame).toString('hex')}\n`);
    const r = await this.line();
    if (r !== 'ok') throw new Error(`agent send: ${r}`);
  }

  /** The frames received since the last drain. */
  async drain(): Promise<Uint8Array[]> {
    this.child.stdin!.write('D\n');
    const out: Uint8Array[] = [];
    for (;;) {
      const l = await this.line();
      if (l === 'end') return out;
      if (!l.startsWith('F ')) throw new Error(`agent drain: ${l}`);
      out.push(Uint8Array.from(Buffer.from(l.slice(2), 'hex')));
    }
  }
}

/** Turn TX checksum offload off (ETHTOOL_STXCSUM = 0x17, value 0) on the interfaces named in argv. */
const TX_CSUM_OFF_PY = `
import ctypes, fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for name in sys.argv[1:]:
    val = ctypes.create_string_buffer(struct.pack('II', 0x17, 0))
    req = struct.pack('16sP', name.encode(), ctypes.addressof(val)).ljust(40, b'\\0')
    fcntl.ioctl(s, 0x8946, req)
`;

/**
 * TX checksum offload off on 'ifaces' in namespace 'ns' (ethtool(8) is not installed): frames
 * the namespace builds itself otherwise cross a veth as CHECKSUM_PARTIAL, with the pseudo-header
 * sum where the checksum goes.
 */
export function txChecksumOff(set: NetnsSet, ns: string, ifaces: string[]): Promise<string> {
  return set.exec(ns, [SYSTEM_PYTHON, '-c', TX_CSUM_OFF_PY, ...ifaces]);
}
