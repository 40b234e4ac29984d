// The packet ledger on every test (sim/ledger.ts): each simulation a test made or used must
// account for every packet (delivered, dropped with a reason, merged, in flight or parked) when
// the test ends; a packet lost without a word fails the test, naming its trace id. Every packet
// gets an id (tagIds), so the failure can name it.
import { afterEach } from 'vitest';
import { Sim } from '../src/sim/engine.js';
import { LedgerError } from '../src/sim/ledger.js';

const sims: WeakRef<Sim>[] = [];
const reported = new WeakMap<Sim, string>();
Sim.onCreate = (sim) => {
  sim.tracer.tagIds(true);
  sims.push(new WeakRef(sim));
};

afterEach(() => {
  const wrong: string[] = [];
  const ids: number[] = [];
  for (let i = sims.length - 1; i >= 0; i--) {
    const sim = sims[i]!.deref();
    if (sim === undefined) { sims.splice(i, 1); continue; }
    const w = sim.ledger.check();
    if (w === null || reported.get(sim) === w) continue;
    reported.set(sim, w);
    wrong.push(w);
    ids.push(...sim.ledger.leakIds);
  }
  if (wrong.length > 0) throw new LedgerError(`packet ledger: ${wrong.join(' | ')}`, ids);
});
