import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FlowTemplate, TemplateError } from '../../src/ofproto/template.js';
import { formatFlowLine, parseFlowsFile, type OfProtocol } from '../../src/ofproto/ofctl.js';
import { flowText, nodeFlows, podFlows } from '../../src/k8s/cni/pipeline.js';
import type { FlowSpec } from '../../src/ofproto/actions.js';

const macText = (v: number): string => v.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
const ipText = (v: number): string => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;

/** everything a spec holds, comparable with toEqual (the Match's words as plain arrays) */
const plain = (s: FlowSpec): unknown => ({ ...s, match: { value: [...s.match.value], mask: [...s.match.mask] } });

const podGen = (v: Record<'gwMAC' | 'ofport' | 'mac' | 'ip', string>): string =>
  podFlows(v.gwMAC, { ofport: Number(v.ofport), mac: v.mac, ip: v.ip }).map(flowText).join('\n');
const POD_HOLES = { gwMAC: 'mac', ofport: 'port', mac: 'mac', ip: 'ipv4' } as const;

describe('FlowTemplate', () => {
  for (const protocols of ['OpenFlow13', 'OpenFlow10'] as OfProtocol[]) {
    it(`instantiates the CNI pod flows exactly as their text parses (${protocols})`, () => {
      const t = FlowTemplate.compile(podGen, POD_HOLES, { protocols });
      fc.assert(fc.property(
        fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 1, max: 0xfeff }),
        fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (gw, ofport, mac, ip) => {
          const got = t.instantiate({ gwMAC: gw, ofport, mac, ip });
          const want = parseFlowsFile(podGen({ gwMAC: macText(gw), ofport: String(ofport), mac: macText(mac), ip: ipText(ip) }), { protocols });
          expect(got.map(plain)).toEqual(want.map(plain));
          expect(got.map((s) => formatFlowLine(s, undefined, { protocols }))).toEqual(want.map((s) => formatFlowLine(s, undefined, { protocols })));
        },
      ), { numRuns: 200 });
    });
  }

  it('instantiates the CNI node flows exactly as their text parses, sharing the flows without holes', () => {
    const gen = (v: Record<'gwIP' | 'gwMAC', string>): string =>
      nodeFlows({ gwIP: v.gwIP, gwMAC: v.gwMAC, serviceCIDR: '10.96.0.0/12' }).map(flowText).join('\n');
    const t = FlowTemplate.compile(gen, { gwIP: 'ipv4', gwMAC: 'mac' }, { protocols: 'OpenFlow13' });
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 48 - 1 }), (ip, mac) => {
      const got = t.instantiate({ gwIP: ip, gwMAC: mac });
      const want = parseFlowsFile(gen({ gwIP: ipText(ip), gwMAC: macText(mac) }), { protocols: 'OpenFlow13' });
      expect(got.map(plain)).toEqual(want.map(plain));
    }), { numRuns: 100 });
    const a = t.instantiate({ gwIP: 0x64400001, gwMAC: 0x020000000001 }), b = t.instantiate({ gwIP: 0x64400101, gwMAC: 0x020000000002 });
    expect(a[0]).toBe(b[0]); // in_port=2 → reg0: no hole
    expect(a[4]).not.toBe(b[4]); // the gateway's ARP spoof guard: its IP and MAC
  });

  it('shares what no hole touches and copies what one does', () => {
    const t = FlowTemplate.compile(podGen, POD_HOLES, { protocols: 'OpenFlow13' });
    const a = t.instantiate({ gwMAC: 0x020000000001, ofport: 3, mac: 0x0a580a000005, ip: 0x64400105 });
    const b = t.instantiate({ gwMAC: 0x020000000001, ofport: 4, mac: 0x0a580a000006, ip: 0x64400106 });
    // the classifier flow's actions name no hole: one list for every pod
    expect(a[0]!.actions).toBe(b[0]!.actions);
    expect(a[0]!.match).not.toBe(b[0]!.match);
    // a hole is a value: the copies' masks are the template's one array
    expect(a[0]!.match.mask).toBe(b[0]!.match.mask);
    expect(a[0]!.match.value).not.toBe(b[0]!.match.value);
    expect(a[0]!.match.value[0]! & 0xffff).toBe(3);
    expect(b[0]!.match.value[0]! & 0xffff).toBe(4);
    expect(a[4]!.actions).not.toBe(b[4]!.actions);
    expect(a[4]!.actions[2]).toBe(b[4]!.actions[2]);
  });

  it('refuses a hole it cannot write back verbatim (TemplateError)', () => {
    // the port's value changes the priority, not a match word or an action field
    expect(() => FlowTemplate.compile((v) => `priority=${v.p},in_port=1,actions=drop`, { p: 'port' }))
      .toThrow(TemplateError);
    // arithmetic on the hole: the second sample's check fails
    expect(() => FlowTemplate.compile((v) => `in_port=${Number(v.p) + 1},actions=drop`, { p: 'port' }))
      .toThrow(TemplateError);
    // a hole inside a nested action list
    expect(() => FlowTemplate.compile((v) => `in_port=1,actions=clone(output:${v.p})`, { p: 'port' }))
      .toThrow(TemplateError);
  });

  it('places ports, addresses and MACs in other fields too', () => {
    const gen = (v: Record<'p' | 'm' | 'i', string>): string => [
      `table=3,priority=7,tcp,nw_dst=${v.i},tp_dst=${v.p},actions=mod_dl_dst:${v.m},output:${v.p}`,
      `arp,arp_tpa=${v.i},arp_tha=${v.m},actions=load:${v.p}->NXM_NX_REG3[0..15],NORMAL`,
    ].join('\n');
    for (const protocols of ['OpenFlow13', 'OpenFlow10'] as OfProtocol[]) {
      const t = FlowTemplate.compile(gen, { p: 'port', m: 'mac', i: 'ipv4' }, { protocols });
      const got = t.instantiate({ p: 8080, m: 0x112233445566, i: 0x0a000001 });
      const want = parseFlowsFile(gen({ p: '8080', m: '11:22:33:44:55:66', i: '10.0.0.1' }), { protocols });
      expect(got.map(plain)).toEqual(want.map(plain));
    }
  });
});
