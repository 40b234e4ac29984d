/**
 * Label selectors (k8s layer): whether a set of labels satisfies a
 * selector, as apimachinery's labels.Selector does.
 *
 * What: `matchLabels` and `matchExpressions` are ANDed; an empty selector
 * (`{}`) matches everything — as a Deployment's or a NetworkPolicy's
 * podSelector does —, while a Service's `selector` map is matched with
 * `matchesMap`, where an absent or empty map selects nothing (a Service
 * without a selector gets no EndpointSlices from the controller).
 * In: the value is one of `values`; NotIn: the key is absent or the value
 * is none of them; Exists / DoesNotExist: the key alone.
 * Neighbours: api.ts (the types), the controllers, the scheduler (node
 * affinity uses the same operators), the CNI's NetworkPolicy.
 */
import type { LabelSelector, LabelSelectorRequirement } from './api.js';

export function matchesRequirement(labels: Readonly<Record<string, string>>, r: LabelSelectorRequirement): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.operator) {
    case 'In': return has && (r.values ?? []).includes(labels[r.key]!);
    case 'NotIn': return !has || !(r.values ?? []).includes(labels[r.key]!);
    case 'Exists': return has;
    case 'DoesNotExist': return !has;
  }
}

/** A LabelSelector: everything when empty. */
export function matchesSelector(labels: Readonly<Record<string, string>> | undefined, sel: LabelSelector | undefined): boolean {
  const l = labels ?? {};
  if (sel === undefined) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const r of sel.matchExpressions ?? []) if (!matchesRequirement(l, r)) return false;
  return true;
}

/** A Service's selector map: nothing when absent or empty. */
export function matchesMap(labels: Readonly<Record<string, string>> | undefined, sel: Readonly<Record<string, string>> | undefined): boolean {
  if (sel === undefined || Object.keys(sel).length === 0) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel)) if (l[k] !== v) return false;
  return true;
}
