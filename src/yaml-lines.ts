/**
 * Where a field of a YAML document is (a leaf module): the line of every
 * key and list item by its field path, and the line to blame for a path —
 * its own, else its nearest enclosing field's. The readers of Kubernetes
 * manifests (k8s/manifest.ts) and of shard maps (shard/map.ts) report
 * their errors on these lines.
 *
 * What: `indexLines(node, path, lc, out, onComplexKey?)` fills `out` with
 * `a.b[2].c` → line (1-based, `yaml`'s LineCounter); a key that is a
 * mapping or a sequence (`? {a: 1}`) has no field path: `onComplexKey`
 * (line, path) may refuse it, else it is indexed under ''. `lineOf(lines,
 * path, fallback)` walks up `parentPath` until a path has a line.
 * `parentPath` cuts the last segment by index, not by a regular expression:
 * a key is any text (`{`, `[`, `.` included), and a cut that does not
 * shorten the path ends the walk.
 */
import { isMap, isScalar, isSeq, type LineCounter, type Node } from 'yaml';

/** Record the line of every key and list item of YAML node 'n' under field path 'path'. */
export function indexLines(n: Node | null | undefined, path: string, lc: LineCounter, out: Map<string, number>,
  onComplexKey?: (line: number, path: string) => never): void {
  if (isMap(n)) {
    for (const pair of n.items) {
      const key = pair.key as Node | null;
      if (onComplexKey !== undefined && (isMap(key) || isSeq(key))) onComplexKey(key.range ? lc.linePos(key.range[0]).line : 1, path);
      const k = isScalar(key) ? String(key.value) : '';
      const p = path ? `${path}.${k}` : k;
      if (key?.range) out.set(p, lc.linePos(key.range[0]).line);
      indexLines(pair.value as Node | null, p, lc, out, onComplexKey);
    }
  } else if (isSeq(n)) {
    n.items.forEach((item, i) => {
      const p = `${path}[${i}]`;
      const it = item as Node | null;
      if (it?.range) out.set(p, lc.linePos(it.range[0]).line);
      indexLines(it, p, lc, out, onComplexKey);
    });
  }
}

/** 'p' without its last segment (`.name` or `[i]`), or null when it has none that can be cut. */
export function parentPath(p: string): string | null {
  if (p.endsWith(']')) {
    const i = p.lastIndexOf('[');
    return i >= 0 && p.indexOf(']', i) === p.length - 1 ? p.slice(0, i) : null;
  }
  const i = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['), p.lastIndexOf(']'));
  return i >= 0 && p[i] === '.' ? p.slice(0, i) : null;
}

/** The line of field 'path', else of the nearest enclosing field that has one, else 'fallback'. */
export function lineOf(lines: ReadonlyMap<string, number>, path: string, fallback: number): number {
  for (let p: string | null = path; p; p = parentPath(p)) {
    const l = lines.get(p);
    if (l !== undefined) return l;
  }
  return fallback;
}
