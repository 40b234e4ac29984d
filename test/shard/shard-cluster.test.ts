/**
 * A Kubernetes cluster sharded (shard/source.ts): its nodes split across worker threads with
 * their pods, the underlay cut, pod-to-Service traffic through kube-proxy and the VXLAN tunnels
 * giving the single-process run's outcomes.
 */
import { describe, expect, it } from 'vitest';
import { runSharded, runSingle, partitionSource, type ShardedRunResult } from '../../src/shard/coordinator.js';
import { clusterManifests, clusterTraffic, serviceIP } from '../../src/shard/shard-example.js';
import { buildSource, graphOfSource } from '../../src/shard/source.js';
import { ShardRuntime, type ShardTraffic } from '../../src/shard/shard-runtime.js';

const MS = 1e6;
const EXAMPLE = { nodes: 6, services: 4, replicas: 2, clients: 4 };
const TEXT = clusterManifests(EXAMPLE);

function outcomes(r: ShardedRunResult): unknown {
  const { created, delivered, dropped, merged, inFlight, parked, leaks, drops, inTransit } = r.ledger;
  return { pings: r.pings, udp: r.udp, ledger: { created, delivered, dropped, merged, inFlightOrTransit: inFlight + inTransit, parked, leaks, drops } };
}

describe('a cluster from manifests, sharded', () => {
  it('the graph: its nodes and the underlay, one link each at the underlay delay (the lookahead); a pod runs with its node', () => {
    const { graph, minCutDelayNs, hosts } = graphOfSource({ text: TEXT, format: 'manifests' });
    expect(graph.nodes).toEqual(['node-0', 'node-1', 'node-2', 'node-3', 'node-4', 'node-5', 'underlay']);
    expect(graph.links.map((l) => `${l.a}-${l.b} ${l.delayNs}`)).toEqual(graph.nodes.slice(0, -1).map((n) => `${n}-underlay 50000`));
    expect(minCutDelayNs).toBe(50_000);
    // pods are named by the controllers: known once built
    expect(hosts).toBeNull();
    const built = buildSource({ text: TEXT, format: 'manifests' });
    expect(built.ownerOf('default/client-2')).toBe('node-2');
    expect(built.ownerOf('node-4')).toBe('node-4');
    expect(built.ownerOf('default/nope')).toBeUndefined();
    const backend = built.cluster!.podsWith({ app: 'app1' })[0]!;
    expect(built.ownerOf(`default/${backend.metadata.name}`)).toBe(backend.spec.nodeName);
    expect(built.link(3)).toBe(built.cluster!.cni.node('node-3').links[0]);
    expect(built.link(3)!.delayNs).toBe(50_000);
    const { part } = partitionSource({ text: TEXT, format: 'manifests' }, 3);
    expect(part.members.map((m) => m.length)).toEqual([3, 2, 2]);
    expect(part.lookaheadNs).toBe(50_000);
  });

  it.each([2, 3])('pod-to-Service UDP and pings across nodes on %i shards: the single-process run\'s counts, RTTs and ledger', async (shards) => {
    const traffic: ShardTraffic = {
      udp: clusterTraffic(EXAMPLE, 2000, 0.01),
      // node-1's gateway (antrea-gw0, its podCIDR's .1), across the tunnel
      pings: [{ from: 'default/client-0', to: '10.244.1.1', count: 2, interval: 0.002, atNs: 3 * MS }],
    };
    const single = runSingle({ text: TEXT, format: 'manifests', traffic, endNs: 40 * MS, tagIds: true });
    const sharded = await runSharded({ text: TEXT, format: 'manifests', shards, traffic, endNs: 40 * MS, tagIds: true });
    expect(sharded.failure).toBeNull();
    expect(outcomes(sharded)).toEqual(outcomes(single));
    // every datagram reached a backend through kube-proxy's DNAT and its echo came back
    expect(sharded.udp.map((u) => [u.sent, u.received])).toEqual(Array(EXAMPLE.clients).fill([20, 20]));
    expect(sharded.pings[0]!.received).toBe(2);
    expect(sharded.ledger.balanced).toBe(true);
    // the frames crossed: every shard sent and took some
    for (const r of sharded.reports) { expect(r.exported).toBeGreaterThan(0); expect(r.imported).toBeGreaterThan(0); }
    expect(sharded.partition.lookaheadNs).toBe(50_000);
  });

  it('a shard\'s data plane holds its own nodes\' pods, the API every pod; with a NetworkPolicy, every pod everywhere', () => {
    const { part } = partitionSource({ text: TEXT, format: 'manifests' }, 2);
    const rt = new ShardRuntime({ text: TEXT, format: 'manifests', shard: 1, shardOf: part.shardOf, cut: part.cut, traffic: {} });
    const cluster = rt.built.cluster!;
    const onPlane = cluster.cni.pods();
    expect(onPlane.length).toBeGreaterThan(0);
    for (const p of onPlane) expect(part.shardOf.get(p.node.name), p.key).toBe(1);
    expect(cluster.cp.store.list('Pod').length).toBe(EXAMPLE.services * EXAMPLE.replicas + EXAMPLE.clients);
    expect(onPlane.length).toBeLessThan(cluster.cp.store.list('Pod').length);
    // another shard's pod: known (its node's shard), not built here
    const elsewhere = cluster.cp.store.list('Pod').find((p) => part.shardOf.get(p.spec.nodeName!) === 0)!;
    expect(rt.built.ownerOf(`default/${elsewhere.metadata.name}`)).toBe(elsewhere.spec.nodeName);
    const policy = `${TEXT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny }\nspec: { podSelector: {} }\n`;
    const withPolicy = new ShardRuntime({ text: policy, format: 'manifests', shard: 1, shardOf: part.shardOf, cut: part.cut, traffic: {} });
    expect(withPolicy.built.cluster!.cni.pods().length).toBe(cluster.cp.store.list('Pod').length);
  });

  it('a node the cluster CIDR has no room for is named (SHARD_NODE_NOT_BUILT), not a missing link', () => {
    expect(() => buildSource({ text: TEXT, format: 'manifests', cluster: { clusterCIDR: '10.244.0.0/23' } }))
      .toThrow(expect.objectContaining({ code: 'SHARD_NODE_NOT_BUILT', message: expect.stringContaining("node 'node-2' is not on the data plane") }));
  });

  it('traffic from a pod the cluster does not have: the shards refuse it by name, and the run reports the failure', async () => {
    const r = await runSharded({ text: TEXT, format: 'manifests', shards: 2, traffic: { udp: [{ from: 'default/ghost', to: serviceIP(0), pps: 10, durationSec: 1 }] }, endNs: MS });
    expect(r.failure).not.toBeNull();
    expect(r.failure!.reason).toMatch(/ShardTrafficError: traffic\.udp\[0\]\.from: no host named 'default\/ghost'/);
  });
});
