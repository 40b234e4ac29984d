/**
 * One payload, many nodes, loaded when each needs it (netfilter layer, slow
 * path): what the CNI does with kube-proxy's shared syncs.
 *
 * What: `deferReplay(ev, change, payload, then)` queues, on an evaluator,
 * the load of a restore another ruleset already made (`change`, from
 * restore.ts `restoreShared`): at the first read of its rules (eval.ts
 * `defer`), the node takes the restore's chains (`replayRestore`), or
 * parses `payload` when its rules were not in the state that allows it,
 * then runs `then` (the CNI's jump rules). Consecutive changes of one
 * ruleset queued on a node that has not read its rules since are composed
 * into one (`composeChanges`), so a node idle through a thousand syncs
 * catches up in one replay, not a thousand; payloads are kept (shared
 * strings) for the fallback.
 * Why: a 5,000-node cluster's nodes mostly never see a packet; kube-proxy's
 * rules must be there when one does, and cost nothing until then.
 * Neighbours: restore.ts (restoreShared, replayRestore, parseRestore),
 * eval.ts (Evaluator.defer, the first read), k8s/cni/network.ts
 * (applyIptablesShared).
 */
import type { Evaluator } from './eval.js';
import type { Ruleset } from './model.js';
import { parseRestore, replayRestore, type RestoreChange } from './restore.js';

/**
 * 'b' after 'a' as one change, when 'b' was made on the rules 'a' left (every table 'b'
 * changed is the one 'a' produced, or one 'a' did not touch); else null. A chain either set
 * from nothing counts as set from nothing (its final content ignores what came before 'a').
 */
export function composeChanges(a: RestoreChange, b: RestoreChange): RestoreChange | null {
  const tables = a.tables.map((t) => ({ ...t }));
  for (const tb of b.tables) {
    const i = tables.findIndex((t) => t.name === tb.name);
    if (i < 0) { tables.push(tb); continue; }
    const ta = tables[i]!;
    if (ta.after !== tb.before) return null;
    tables[i] = { name: tb.name, before: ta.before, after: tb.after, reset: new Set([...ta.reset, ...tb.reset]), present: tb.present };
  }
  return { tables };
}

interface Pending { changes: RestoreChange[]; payloads: string[][]; then: (rs: Ruleset) => void }
const pending = new WeakMap<Evaluator, Pending>();

/** Queue on 'ev' the load of 'change' (made from 'payload' on another ruleset); see the module comment. */
export function deferReplay(ev: Evaluator, change: RestoreChange, payload: string, then: (rs: Ruleset) => void): void {
  let p = pending.get(ev);
  if (p === undefined) {
    const mine: Pending = p = { changes: [], payloads: [], then };
    pending.set(ev, p);
    ev.defer(() => {
      pending.delete(ev);
      const rs = ev.rs;
      mine.changes.forEach((c, i) => {
        if (!replayRestore(c, rs)) for (const text of mine.payloads[i]!) parseRestore(text, rs, { noflush: true });
      });
      mine.then(rs);
    });
  }
  const last = p.changes.length - 1;
  const joined = last < 0 ? null : composeChanges(p.changes[last]!, change);
  if (joined !== null) { p.changes[last] = joined; p.payloads[last]!.push(payload); } else { p.changes.push(change); p.payloads.push([payload]); }
  p.then = then;
}
