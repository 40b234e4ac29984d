/**
 * Undoable tables (compute layer, control plane): what lets cloud.ts run
 * an operation whole or not at all at the cost of what it touches.
 *
 * What: a `Journal` of undo steps, open while an operation runs
 * (`begin`, then `commit` or `rollback`); a `Table<V>` of records by key
 * whose every write (`put`, `remove`) goes through the journal; `record`
 * for anything else that must be undone (a Set of VNIs, an IPAM's
 * addresses). Records in a table are frozen (deep) when stored: a record
 * is never changed in place, it is replaced by an updated copy (`update`),
 * so the journal needs only the previous record, and a forgotten in-place
 * write fails loudly (TypeError) instead of escaping the undo.
 * Order: a table iterates in insertion order, as a Map does, and keeps it
 * through a rollback: each key has a sequence number from its first
 * insertion (`seqOf`, for callers that sort index sets into table order);
 * undoing a removal puts the key back and the table is re-sorted by
 * sequence at the end of the rollback (the only O(table) step, and only
 * for a refused operation that had removed something).
 * Indexes: a table's `hook(key, before, after)` is called on every change,
 * undo included, so indexes derived from the records follow every write
 * and every rollback without a journal of their own.
 * Neighbours: cloud.ts (its State is made of these tables).
 */

/** Freeze 'o' and everything it holds (plain data). */
export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

export class Journal {
  private steps: (() => void)[] | null = null;
  private readonly unordered = new Set<{ reorder(): void }>();

  get open(): boolean { return this.steps !== null; }

  begin(): void { this.steps = []; this.unordered.clear(); }

  /** Remember how to undo a change just made (ignored when no operation is open). */
  record(undo: () => void): void { this.steps?.push(undo); }

  commit(): void { this.steps = null; this.unordered.clear(); }

  /** Undo every change since begin(), newest first; tables that got keys back are re-sorted. */
  rollback(): void {
    const steps = this.steps ?? [];
    this.steps = null;
    for (let i = steps.length - 1; i >= 0; i--) steps[i]!();
    for (const t of this.unordered) t.reorder();
    this.unordered.clear();
  }

  /** 't' got a key back out of order (a rollback step). */
  disordered(t: { reorder(): void }): void { this.unordered.add(t); }
}

export class Table<V extends object> {
  private readonly rows = new Map<string, V>();
  private readonly seqs = new Map<string, number>();
  private nextSeq = 0;

  /**
   * 'keyOf' names a record's key; 'hook' hears every change (before/after,
   * undefined for absent); 'freeze' false keeps records mutable (their
   * owner journals their inner changes itself).
   */
  constructor(
    private readonly journal: Journal,
    private readonly keyOf: (v: V) => string,
    private readonly hook: ((key: string, before: V | undefined, after: V | undefined) => void) | null = null,
    private readonly freeze = true,
  ) {}

  get(key: string): V | undefined { return this.rows.get(key); }
  has(key: string): boolean { return this.rows.has(key); }
  values(): IterableIterator<V> { return this.rows.values(); }
  keys(): IterableIterator<string> { return this.rows.keys(); }
  get size(): number { return this.rows.size; }
  /** the key's insertion sequence (its place in the table's order) */
  seqOf(key: string): number { return this.seqs.get(key) ?? Infinity; }

  /** Store 'v' (new, or replacing the record with its key in place). */
  put(v: V): V {
    if (this.freeze) deepFreeze(v);
    const key = this.keyOf(v);
    const before = this.rows.get(key), seq = this.seqs.get(key);
    this.write(key, v, undefined);
    this.journal.record(() => this.write(key, before, seq));
    return v;
  }

  /** 'v' with the fields of 'patch' changed, stored in its place. */
  update(v: V, patch: Partial<V>): V { return this.put({ ...v, ...patch }); }

  remove(key: string): void {
    const before = this.rows.get(key), seq = this.seqs.get(key);
    if (before === undefined) return;
    this.write(key, undefined, undefined);
    this.journal.record(() => this.write(key, before, seq));
  }

  private write(key: string, v: V | undefined, seq: number | undefined): void {
    const before = this.rows.get(key);
    if (v === undefined) {
      this.rows.delete(key);
      this.seqs.delete(key);
    } else {
      if (before === undefined) {
        // a key coming back (a removal undone) may belong before keys inserted since
        if (seq !== undefined) this.journal.disordered(this);
        this.seqs.set(key, seq ?? this.nextSeq++);
      }
      this.rows.set(key, v);
    }
    this.hook?.(key, before, v);
  }

  /** Put the rows back in sequence order (after a rollback re-inserted some). */
  reorder(): void {
    const rows = [...this.rows].sort((a, b) => this.seqOf(a[0]) - this.seqOf(b[0]));
    this.rows.clear();
    for (const [k, v] of rows) this.rows.set(k, v);
  }
}
