// deploy/: the manifests that run the shards as a StatefulSet, held three ways — no cluster runs
// here, so this is what stands in for `kubectl apply` (see deploy/README.md for what was not run).
// 1. Schema: every deploy/k8s/*.yaml through the project's manifest loader (src/k8s/manifest.ts:
//    types by field path, defaults, the API server's validation), no unknown field; for what the
//    loader does not know (ConfigMap; the pod fields it passes through untyped: env, volumes,
//    volumeMounts, probes, securityContext), checks written from the Kubernetes API reference.
//    Across objects: one namespace, the Service headless and the StatefulSet's serviceName, the
//    selector matching the template, named ports agreeing with the map's underlay and viewer, the
//    ConfigMap's shard map parsing (src/shard/map.ts) with shards = replicas, its source file
//    reachable through the volume and holding the nodes the partition needs.
// 2. Dry render: the manifests applied to the emulator's own control plane, whose StatefulSet
//    controller makes pods sdnemu-shard-0…N−1; their env and args (downward API and $(VAR)
//    expansion evaluated here) give each pod its own index, and hostname.subdomain.namespace is
//    the name renderPeers gives its peers; the headless slice publishes them before readiness.
// 3. The Dockerfile: stages, instructions, and ENTRYPOINT + CMD agreeing with the StatefulSet.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadManifests, ManifestError } from '../../src/k8s/manifest.js';
import { ControlPlane } from '../../src/k8s/controllers/control-plane.js';
import { matchesSelector } from '../../src/k8s/labels.js';
import { parseQuantity } from '../../src/k8s/quantity.js';
import type { EndpointSlice, KubeObject, Namespace, Pod, Service, StatefulSet } from '../../src/k8s/api.js';
import { checkNodes, parseShardMap, renderPeers, type ShardMap } from '../../src/shard/map.js';
import { graphOfTopology, partition } from '../../src/shard/partition.js';
import { loadTopology } from '../../src/topology/file.js';

const DIR = 'deploy/k8s';
type Obj = Record<string, unknown>;

/** The pod-spec fields api.ts leaves out (the loader passes them through untyped): a local extension. */
interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; [k: string]: unknown } }
interface VolumeMount { name: string; mountPath: string; readOnly?: boolean; subPath?: string }
interface KeyToPath { key: string; path: string }
interface Volume {
  name: string;
  configMap?: { name: string; items?: KeyToPath[] };
  projected?: { sources: { configMap?: { name: string; items?: KeyToPath[] }; [k: string]: unknown }[] };
  emptyDir?: { medium?: string; sizeLimit?: string };
  [k: string]: unknown;
}
interface FullContainer {
  name: string; image?: string; command?: string[]; args?: string[]; env?: EnvVar[]; volumeMounts?: VolumeMount[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: Obj; securityContext?: Obj;
}
interface ConfigMap { apiVersion: 'v1'; kind: 'ConfigMap'; metadata: { name: string; namespace?: string }; data?: Record<string, string> }

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
const kustomization = parse(readFileSync(`${DIR}/kustomization.yaml`, 'utf8')) as { resources: string[]; images?: { name: string; newTag?: string }[] };
/** every object of deploy/k8s, in the kustomization's order: [file, raw object] */
const raw: [string, Obj][] = kustomization.resources.flatMap((f) => parseAllDocuments(readFileSync(`${DIR}/${f}`, 'utf8'))
  .map((d) => [f, d.toJS() as Obj] as [string, Obj]).filter(([, o]) => o !== null));

const configMaps = raw.filter(([, o]) => o.kind === 'ConfigMap').map(([, o]) => o as unknown as ConfigMap);
/** the objects the project's loader knows, loaded by it (file by file) */
const known: KubeObject[] = kustomization.resources.filter((f) => !raw.some(([g, o]) => g === f && o.kind === 'ConfigMap'))
  .flatMap((f) => loadManifests(readFileSync(`${DIR}/${f}`, 'utf8'), { file: f }).objects);
const only = <K extends KubeObject['kind']>(kind: K): Extract<KubeObject, { kind: K }> => {
  const os = known.filter((o) => o.kind === kind);
  expect(os, kind).toHaveLength(1);
  return os[0] as Extract<KubeObject, { kind: K }>;
};
const sts = only('StatefulSet') as StatefulSet;
const svc = only('Service') as Service;
const ns = only('Namespace') as Namespace;
const container = sts.spec.template.spec.containers[0] as unknown as FullContainer;
const volumes = ((sts.spec.template.spec as unknown as { volumes?: Volume[] }).volumes ?? []);

/**
 * The ConfigMap key a file path inside the container comes from, through the volume mounts
 * (configMap or projected configMap sources), or null when no mount holds it.
 */
function resolveFile(path: string): { configMap: string; key: string } | null {
  for (const m of container.volumeMounts ?? []) {
    if (!path.startsWith(`${m.mountPath}/`)) continue;
    const rel = path.slice(m.mountPath.length + 1);
    const v = volumes.find((x) => x.name === m.name);
    const sources = v?.configMap ? [{ configMap: v.configMap }] : v?.projected?.sources ?? [];
    for (const s of sources) {
      if (!s.configMap) continue;
      const cm = configMaps.find((c) => c.metadata.name === s.configMap!.name);
      const items = s.configMap.items ?? Object.keys(cm?.data ?? {}).map((key) => ({ key, path: key }));
      const it = items.find((i) => i.path === rel);
      if (it) return { configMap: s.configMap.name, key: it.key };
    }
  }
  return null;
}
const fileText = (path: string): string => {
  const at = resolveFile(path);
  expect(at, `${path} is in no mounted ConfigMap`).not.toBeNull();
  const text = configMaps.find((c) => c.metadata.name === at!.configMap)?.data?.[at!.key];
  expect(text, `${at!.configMap}/${at!.key}`).toBeTypeOf('string');
  return text!;
};
/** the value after 'flag' in the container's args */
const argOf = (args: readonly string[], flag: string): string | undefined => args[args.indexOf(flag) + 1];
const MAP_PATH = argOf(container.args ?? [], '--map')!;
const map: ShardMap = parseShardMap(fileText(MAP_PATH));

describe('deploy/k8s: every file through the manifest loader, or the API reference', () => {
  it('the kustomization lists every manifest file once, and names the container\'s image', () => {
    expect([...kustomization.resources].sort()).toEqual(files);
    expect(new Set(kustomization.resources).size).toBe(kustomization.resources.length);
    expect(kustomization.images?.map((i) => `${i.name}:${i.newTag}`)).toEqual([container.image]);
  });

  it('the loader takes Namespace, Service and StatefulSet with no warning (no unknown field)', () => {
    for (const f of files) {
      if (raw.some(([g, o]) => g === f && o.kind === 'ConfigMap')) continue;
      expect(loadManifests(readFileSync(`${DIR}/${f}`, 'utf8'), { file: f }).warnings, f).toEqual([]);
    }
    expect(known.map((o) => o.kind).sort()).toEqual(['Namespace', 'Service', 'StatefulSet']);
  });

  it('the loader does not serve ConfigMap: it says so, and the ConfigMaps get the API reference\'s checks', () => {
    expect(() => loadManifests(readFileSync(`${DIR}/shard-map.yaml`, 'utf8'))).toThrow(expect.objectContaining({ code: 'K8S_NO_KIND_MATCH' }));
    expect(() => loadManifests(readFileSync(`${DIR}/shard-map.yaml`, 'utf8'))).toThrow(ManifestError);
    expect(configMaps.map((c) => c.metadata.name).sort()).toEqual(['sdnemu-shard-map', 'sdnemu-topology']);
    for (const [, o] of raw.filter(([, x]) => x.kind === 'ConfigMap')) {
      // ConfigMap v1: apiVersion, kind, metadata, data, binaryData, immutable
      expect(Object.keys(o).every((k) => ['apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable'].includes(k))).toBe(true);
      expect(o.apiVersion).toBe('v1');
      const md = o.metadata as { name: string; namespace: string; labels?: Record<string, string> };
      expect(md.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
      expect(md.name.length).toBeLessThanOrEqual(253);
      const data = o.data as Record<string, unknown>;
      let size = 0;
      for (const [k, v] of Object.entries(data)) {
        expect(k).toMatch(/^[-._a-zA-Z0-9]+$/); // IsConfigMapKey
        expect(k.length).toBeLessThanOrEqual(253);
        expect(typeof v).toBe('string');
        size += k.length + (v as string).length;
      }
      expect(size).toBeLessThan(1024 * 1024); // MaxSecretSize, which ConfigMaps share
    }
  });

  it('one namespace, holding every namespaced object', () => {
    expect(ns.metadata.name).toBe('sdnemu');
    for (const [f, o] of raw) if (o.kind !== 'Namespace') expect((o.metadata as { namespace?: string }).namespace, f).toBe(ns.metadata.name);
    expect(raw[0]![1].kind).toBe('Namespace'); // applied first
  });

  it('the Service is headless, publishes not-ready pods, selects the StatefulSet\'s pods, and is its serviceName', () => {
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.publishNotReadyAddresses).toBe(true);
    expect(sts.spec.serviceName).toBe(svc.metadata.name);
    expect(matchesSelector(sts.spec.template.metadata!.labels!, { matchLabels: svc.spec.selector! })).toBe(true);
    expect(matchesSelector(sts.spec.template.metadata!.labels!, sts.spec.selector)).toBe(true);
  });

  it('ports: named; each Service port targets a container port by name with the same protocol and number', () => {
    const cports = container.ports ?? [];
    for (const p of svc.spec.ports ?? []) {
      expect(p.name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
      const c = cports.find((x) => x.name === p.targetPort);
      expect(c, `${p.name} → ${String(p.targetPort)}`).toBeDefined();
      expect([c!.protocol, c!.containerPort]).toEqual([p.protocol, p.port]);
    }
    expect(cports.every((p) => p.name)).toBe(true);
  });

  it('the StatefulSet: Parallel, resources requested within limits, a readiness probe of one handler', () => {
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    const { requests = {}, limits = {} } = container.resources ?? {};
    expect(Object.keys(requests).sort()).toEqual(['cpu', 'memory']);
    for (const [r, q] of Object.entries(requests)) expect(parseQuantity(q)).toBeLessThanOrEqual(parseQuantity(limits[r]!));
    const probe = container.readinessProbe!;
    const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((h) => probe[h] !== undefined);
    expect(handlers).toEqual(['exec']);
    const cmd = (probe.exec as { command: unknown }).command;
    expect(Array.isArray(cmd) && cmd.length > 0 && cmd.every((x) => typeof x === 'string')).toBe(true);
    for (const k of ['periodSeconds', 'failureThreshold']) expect(probe[k]).toBeGreaterThanOrEqual(1);
    // the probe's file is the one the env tells the shard command to create, on a writable mount
    const ready = container.env!.find((e) => e.name === 'SDNEMU_READY_FILE')!.value!;
    expect(cmd).toEqual(['test', '-e', ready]);
    const m = container.volumeMounts!.find((x) => ready.startsWith(`${x.mountPath}/`))!;
    expect(m.readOnly).not.toBe(true);
    const sc = (sts.spec.template.spec as unknown as { securityContext: { runAsNonRoot?: boolean; runAsUser?: number } }).securityContext;
    if (sc.runAsNonRoot) expect(sc.runAsUser).toBeGreaterThan(0);
  });

  it('env (API reference): unique names, value xor valueFrom, fieldRef paths the downward API serves; $(VAR)s defined', () => {
    const env = container.env ?? [];
    expect(new Set(env.map((e) => e.name)).size).toBe(env.length);
    const FIELD = /^(metadata\.(name|namespace|uid)|metadata\.(labels|annotations)\['[^']+'\]|spec\.(nodeName|serviceAccountName)|status\.(hostIP|hostIPs|podIP|podIPs))$/;
    for (const e of env) {
      expect(e.name).toMatch(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/);
      expect((e.value !== undefined) !== (e.valueFrom !== undefined)).toBe(true);
      if (e.valueFrom) {
        expect(Object.keys(e.valueFrom)).toEqual(['fieldRef']);
        expect(e.valueFrom.fieldRef!.fieldPath).toMatch(FIELD);
      }
    }
    for (const a of [...(container.command ?? []), ...(container.args ?? [])]) {
      for (const m of a.matchAll(/\$\(([^)]*)\)/g)) expect(env.map((e) => e.name), a).toContain(m[1]);
    }
  });

  it('volumes (API reference): unique DNS-label names, one source each, mounts of existing volumes at distinct absolute paths', () => {
    const names = volumes.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    for (const v of volumes) {
      expect(v.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(Object.keys(v).filter((k) => k !== 'name')).toHaveLength(1);
      for (const s of v.projected?.sources ?? []) {
        expect(Object.keys(s)).toHaveLength(1);
        const cm = configMaps.find((c) => c.metadata.name === s.configMap?.name);
        expect(cm, s.configMap?.name).toBeDefined();
        for (const it of s.configMap!.items ?? []) {
          expect(Object.keys(cm!.data ?? {})).toContain(it.key);
          expect(it.path.startsWith('/') || it.path.split('/').includes('..')).toBe(false);
        }
      }
    }
    const paths = (volumes.find((v) => v.projected)?.projected?.sources ?? []).flatMap((s) => (s.configMap?.items ?? []).map((i) => i.path));
    expect(new Set(paths).size).toBe(paths.length);
    const mounts = container.volumeMounts ?? [];
    for (const m of mounts) {
      expect(names).toContain(m.name);
      expect(m.mountPath.startsWith('/')).toBe(true);
    }
    expect(new Set(mounts.map((m) => m.mountPath)).size).toBe(mounts.length);
  });
});

describe('deploy/k8s: the shard map in the ConfigMap', () => {
  it('parses, runs in realtime, and has as many shards as the StatefulSet has replicas', () => {
    expect(map.mode).toBe('realtime');
    expect(map.shards).toBe(sts.spec.replicas);
  });

  it('names the StatefulSet and the Service, and their ports: the underlay on UDP, the viewer on TCP', () => {
    expect(map.discovery).toMatchObject({ statefulSet: sts.metadata.name, service: svc.metadata.name });
    const port = (name: string) => svc.spec.ports!.find((p) => p.name === name)!;
    expect(port(map.underlay.encap)).toMatchObject({ port: map.underlay.port, protocol: 'UDP' });
    expect(port('viewer')).toMatchObject({ port: map.viewer!.port, protocol: 'TCP' });
    expect(map.viewer!.shard).toBeLessThan(map.shards);
  });

  it('its source is mounted beside it, is examples/shard-overlay.yaml verbatim, and has the nodes the shards need', () => {
    const text = fileText(map.source.file);
    expect(text).toBe(readFileSync('examples/shard-overlay.yaml', 'utf8'));
    expect(map.source.format).toBe('topology');
    const nodes = graphOfTopology(loadTopology(text)).nodes;
    expect(nodes.length).toBeGreaterThanOrEqual(map.shards);
    expect(() => checkNodes(map, nodes)).not.toThrow();
    // the explicit split the map's comment offers is valid for the same file
    const split = /# (partition: \[\[.*\]\])/.exec(fileText(MAP_PATH))![1]!;
    const explicit = parseShardMap(fileText(MAP_PATH).replace('partition: auto', split));
    expect(() => checkNodes(explicit, nodes)).not.toThrow();
  });

  it('carries the overlay\'s VNI, and the traffic its args name runs between VMs of the source on different shards', () => {
    const vnis = loadTopology(fileText(map.source.file)).vteps.map((v) => v.vni);
    expect(map.underlay.vnis).toEqual([...new Set(vnis)].map((v) => ({ lo: v, hi: v })));
    const plan = partition(graphOfTopology(loadTopology(fileText(map.source.file))), { shards: map.shards });
    const pings = (container.args ?? []).filter((_, i, a) => a[i - 1] === '--ping').map((p) => p.split(':'));
    expect(pings.length).toBeGreaterThan(0);
    const hosts = loadTopology(fileText(map.source.file)).hosts;
    for (const [from, to] of pings) {
      const dst = hosts.find((h) => h.ifaces.some((i) => (i.addrs ?? []).some((a) => a.split('/')[0] === to)));
      expect(dst, to).toBeDefined();
      expect(plan.shardOf.get(from!), from).not.toBe(plan.shardOf.get(dst!.name));
    }
  });
});

/** The value of env var 'e' in 'pod', as the kubelet resolves it (the downward API fields used here). */
function envValue(pod: Pod, e: EnvVar): string | undefined {
  if (e.value !== undefined) return e.value;
  const path = e.valueFrom?.fieldRef?.fieldPath ?? '';
  const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!];
  if (path === 'metadata.name') return pod.metadata.name;
  if (path === 'metadata.namespace') return pod.metadata.namespace;
  if (path === 'spec.nodeName') return pod.spec.nodeName;
  return undefined;
}
/** `$(VAR)` expanded from 'env' as the kubelet expands command and args (`$$` escapes; an unknown VAR stays). */
const expand = (s: string, env: Map<string, string>): string => s.replace(/\$\$|\$\(([^)]*)\)/g, (all, v: string | undefined) => (all === '$$' ? '$' : env.get(v!) ?? all));

describe('deploy/k8s: dry render on the emulator\'s control plane', () => {
  function render(objects: readonly KubeObject[] = known): ControlPlane {
    const cp = new ControlPlane();
    for (const n of ['node-a', 'node-b']) cp.addNode(n, { cpu: '4', memory: '8Gi' });
    const res = cp.apply(objects);
    expect(res.map((r) => r.action)).toEqual(objects.map(() => 'created'));
    return cp;
  }
  const shardPods = (cp: ControlPlane): Pod[] => cp.store.list('Pod').filter((p) => p.metadata.namespace === ns.metadata.name)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));

  it('the StatefulSet controller makes sdnemu-shard-0…N−1 at once (Parallel), scheduled, with hostname and subdomain', () => {
    const cp = render();
    const pods = shardPods(cp);
    expect(pods.map((p) => p.metadata.name)).toEqual(Array.from({ length: map.shards }, (_, k) => `${map.discovery.statefulSet}-${k}`));
    for (const p of pods) {
      expect(p.spec.hostname).toBe(p.metadata.name);
      expect(p.spec.subdomain).toBe(map.discovery.service);
      expect(p.spec.nodeName).toMatch(/^node-[ab]$/);
    }
  });

  it('each pod resolves its own index and namespace, and its args name its shard and the map', () => {
    const cp = render();
    const peers = renderPeers(map, ns.metadata.name);
    shardPods(cp).forEach((p, k) => {
      const c = p.spec.containers[0] as unknown as FullContainer;
      const env = new Map<string, string>();
      for (const e of c.env ?? []) {
        const v = envValue(p, e);
        expect(v, e.name).toBeDefined();
        env.set(e.name, v!);
      }
      expect(env.get('SDNEMU_SHARD_INDEX')).toBe(String(k));
      expect(env.get('SDNEMU_NAMESPACE')).toBe(ns.metadata.name);
      expect(env.get('SDNEMU_POD_NAME')).toBe(p.metadata.name);
      const args = (c.args ?? []).map((a) => expand(a, env));
      expect(args.slice(0, 7)).toEqual(['shard', '--map', MAP_PATH, '--index', String(k), '--namespace', ns.metadata.name]);
      // the name a peer dials is the name this pod gets: hostname.subdomain.namespace.svc.<domain>
      expect(`${p.spec.hostname}.${p.spec.subdomain}.${p.metadata.namespace}.svc.${map.discovery.clusterDomain}`).toBe(peers[k]!.host);
      expect(peers[k]!.peers.map((x) => x.shard)).toEqual(peers.map((x) => x.shard).filter((j) => j !== k));
    });
  });

  it('the headless slice names every shard before any is ready (publishNotReadyAddresses); without it, none', () => {
    const slices = (cp: ControlPlane): EndpointSlice['endpoints'] => cp.store.list('EndpointSlice')
      .filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name).flatMap((s) => s.endpoints);
    const cp = render();
    expect(shardPods(cp).every((p) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True')).toBe(true);
    const eps = slices(cp);
    expect(eps.map((e) => e.hostname).sort()).toEqual(shardPods(cp).map((p) => p.metadata.name));
    expect(eps.every((e) => e.conditions?.ready === true)).toBe(true);
    const strict = known.map((o) => (o.kind === 'Service' ? { ...o, spec: { ...o.spec, publishNotReadyAddresses: false } } as Service : o));
    expect(slices(render(strict)).every((e) => e.conditions?.ready === false)).toBe(true);
  });

  it('scaling the StatefulSet adds and removes shards from the top; the map must follow (shards = replicas)', () => {
    const cp = render();
    cp.scale('StatefulSet', ns.metadata.name, sts.metadata.name, 4);
    expect(shardPods(cp).map((p) => p.metadata.name)).toEqual([0, 1, 2, 3].map((k) => `sdnemu-shard-${k}`));
    const four = parseShardMap(fileText(MAP_PATH).replace(/^shards: \d+$/m, 'shards: 4'));
    expect(renderPeers(four, ns.metadata.name)[3]!.host).toBe(`sdnemu-shard-3.${svc.metadata.name}.${ns.metadata.name}.svc.cluster.local`);
    cp.scale('StatefulSet', ns.metadata.name, sts.metadata.name, 1);
    expect(shardPods(cp).map((p) => p.metadata.name)).toEqual(['sdnemu-shard-0']);
  });
});

describe('deploy/Dockerfile', () => {
  /** instructions, continuation lines joined, comments dropped: [INSTRUCTION, rest] */
  const instructions: [string, string][] = readFileSync('deploy/Dockerfile', 'utf8').replace(/\\\n/g, ' ').split('\n')
    .map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => { const m = /^(\S+)\s+(.*)$/.exec(l)!; return [m[1]!.toUpperCase(), m[2]!]; });
  const stages = instructions.reduce<[string, string][][]>((acc, ins) => { if (ins[0] === 'FROM') acc.push([]); acc[acc.length - 1]!.push(ins); return acc; }, []);
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };

  it('every instruction is one Docker knows; two stages on node:20-slim, the first named build', () => {
    const KNOWN = ['FROM', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'EXPOSE', 'ENTRYPOINT', 'CMD', 'ARG', 'LABEL'];
    for (const [i] of instructions) expect(KNOWN).toContain(i);
    expect(stages.map((s) => s[0]![1])).toEqual(['node:20-slim AS build', 'node:20-slim']);
    for (const s of stages) expect(s.some(([i]) => i === 'WORKDIR')).toBe(true);
  });

  it('the builder installs everything and runs npm run build; the runtime installs production dependencies and takes dist/', () => {
    const runs = (s: [string, string][]): string => s.filter(([i]) => i === 'RUN').map(([, r]) => r).join(' && ');
    expect(runs(stages[0]!)).toMatch(/npm ci/);
    expect(runs(stages[0]!)).toMatch(/npm run build/);
    expect(pkg.scripts.build).toMatch(/tsc -p tsconfig\.build\.json/);
    expect(runs(stages[1]!)).toMatch(/npm ci --omit=dev/);
    expect(stages[1]!.filter(([i]) => i === 'COPY').map(([, r]) => r)).toContain('--from=build /src/dist ./dist');
    // sdnemu on PATH is the package's bin, compiled
    expect(runs(stages[1]!)).toContain(`ln -s /app/${pkg.bin.sdnemu} /usr/local/bin/sdnemu`);
    // every path copied from the context exists in the repository
    for (const [, r] of instructions.filter(([i, x]) => i === 'COPY' && !x.startsWith('--from'))) {
      for (const src of r.split(/\s+/).slice(0, -1)) expect(existsSync(src), src).toBe(true);
    }
  });

  it('ENTRYPOINT + CMD run the shard command on the map the StatefulSet mounts; the StatefulSet only changes the index (and adds the namespace)', () => {
    const json = (i: string): string[] => JSON.parse(instructions.find(([x]) => x === i)![1]) as string[];
    const cmdline = [...json('ENTRYPOINT'), ...json('CMD')];
    expect(cmdline).toEqual(['sdnemu', 'shard', '--map', MAP_PATH, '--index', '0']);
    expect(container.command).toBeUndefined(); // the image's ENTRYPOINT stays
    const args = container.args!;
    expect(args.slice(0, 4)).toEqual(cmdline.slice(1, 5));
    expect(argOf(args, '--index')).toBe('$(SDNEMU_SHARD_INDEX)');
    const expose = instructions.find(([i]) => i === 'EXPOSE')![1].split(/\s+/).sort();
    expect(expose).toEqual((container.ports ?? []).map((p) => `${p.containerPort}/${p.protocol!.toLowerCase()}`).sort());
  });
});
