/**
 * The problems of one fsck run and their blast radius, built while the graph is walked:
 *  - every problem about an object is recorded once (keyed by namespace and id) and collects the
 *    commits and file paths that reach it;
 *  - the commit graph (child → parents/inputs edges, and which roots point where) is kept, so the
 *    refs affected by a problem are found at the end by one upward walk from its commits.
 * Only problems carry sets of commits and paths, and each set is capped (MAX_LISTED), so memory
 * grows with the damage found, not with the store.
 */
import { defaultSeverity, problemClass, type Affected, type ObjectKindName, type Problem, type ProblemCode, type Severity } from './problem.js';

export const MAX_LISTED = 1000;

export interface NewProblem {
  code: ProblemCode;
  id: string | null;
  kind: ObjectKindName;
  key?: string;
  detail: string;
  facts?: Record<string, unknown>;
  severity?: Severity;
  /** Only the refs given with affectRef: a finding about a ref tip does not spread to other refs. */
  ownRefsOnly?: boolean;
}

interface Record_ extends NewProblem {
  commits: Set<string>;
  paths: Set<string>;
  refs: Set<string>;
  moreCommits: number;
  morePaths: number;
}

export class Findings {
  readonly #records: Record_[] = [];
  readonly #byKey = new Map<string, number>();
  /** child commit → parents and inputs (also edges to commits that turned out missing). */
  readonly #edges = new Map<string, readonly string[]>();
  /** commit → root names (refs, HEAD, mlstore.lock, refstate:…) that point at it directly. */
  readonly #roots = new Map<string, Set<string>>();

  get size(): number {
    return this.#records.length;
  }

  /**
   * Records a problem, or returns the one already recorded under `dedupKey` (default: code,
   * kind and id/key), so an object referenced from many places is one problem.
   */
  add(p: NewProblem, dedupKey = `${p.code}|${p.kind}|${p.id ?? p.key ?? p.detail}`): number {
    const known = this.#byKey.get(dedupKey);
    if (known !== undefined) return known;
    const pid = this.#records.length;
    this.#records.push({ ...p, commits: new Set(), paths: new Set(), refs: new Set(), moreCommits: 0, morePaths: 0 });
    this.#byKey.set(dedupKey, pid);
    return pid;
  }

  /** The problem recorded under an explicit key, e.g. `object:chunks:<id>`. */
  lookup(dedupKey: string): number | undefined {
    return this.#byKey.get(dedupKey);
  }

  get(pid: number): Readonly<NewProblem> {
    return this.#records[pid]!;
  }

  /** Changes what a recorded problem says (e.g. a hash mismatch found to be a truncation). */
  refine(pid: number, change: Partial<Pick<NewProblem, 'code' | 'detail' | 'facts' | 'severity'>>): void {
    Object.assign(this.#records[pid]!, change);
  }

  affectCommit(pid: number, commit: string): void {
    const r = this.#records[pid]!;
    if (r.commits.has(commit)) return;
    if (r.commits.size < MAX_LISTED) r.commits.add(commit);
    else r.moreCommits++;
  }

  affectPath(pid: number, path: string): void {
    const r = this.#records[pid]!;
    if (r.paths.has(path)) return;
    if (r.paths.size < MAX_LISTED) r.paths.add(path);
    else r.morePaths++;
  }

  affectRef(pid: number, ref: string): void {
    this.#records[pid]!.refs.add(ref);
  }

  addEdges(commit: string, targets: readonly string[]): void {
    this.#edges.set(commit, targets);
  }

  addRoot(commit: string, name: string): void {
    let s = this.#roots.get(commit);
    if (!s) this.#roots.set(commit, (s = new Set()));
    s.add(name);
  }

  rootsOf(commit: string): ReadonlySet<string> {
    return this.#roots.get(commit) ?? new Set();
  }

  /** Final problems: refs filled in from the commit graph, sets sorted, `keep` filtering. */
  finish(keep: (p: NewProblem) => boolean = () => true): Problem[] {
    const children = this.#childMap();
    const out: Problem[] = [];
    for (const r of this.#records) {
      if (!keep(r)) continue;
      const refs = new Set(r.refs);
      if (!r.ownRefsOnly) for (const root of this.#rootsReaching(r.commits, children)) refs.add(root);
      const affected: Affected = { commits: sorted(r.commits), refs: sorted(refs), paths: sorted(r.paths) };
      if (r.moreCommits || r.morePaths) {
        affected.more = { ...(r.moreCommits ? { commits: r.moreCommits } : {}), ...(r.morePaths ? { paths: r.morePaths } : {}) };
      }
      const problem: Problem = {
        code: r.code,
        severity: r.severity ?? defaultSeverity(r.code),
        class: problemClass(r.code),
        id: r.id,
        kind: r.kind,
        detail: r.detail,
        affected,
      };
      if (r.key !== undefined) problem.key = r.key;
      if (r.facts !== undefined) problem.facts = r.facts;
      out.push(problem);
    }
    const rank = { error: 0, warning: 1, info: 2 } as const;
    return out.sort((a, b) => rank[a.severity] - rank[b.severity] || cmp(a.code, b.code) || cmp(a.id ?? a.key ?? '', b.id ?? b.key ?? ''));
  }

  #childMap(): Map<string, string[]> {
    const children = new Map<string, string[]>();
    for (const [child, parents] of this.#edges) {
      for (const p of parents) {
        let list = children.get(p);
        if (!list) children.set(p, (list = []));
        list.push(child);
      }
    }
    return children;
  }

  /** Roots from which any of `commits` is reachable: one upward walk from all of them at once. */
  #rootsReaching(commits: ReadonlySet<string>, children: Map<string, string[]>): Set<string> {
    const found = new Set<string>();
    if (commits.size === 0) return found;
    const seen = new Set<string>(commits);
    const stack = [...commits];
    while (stack.length > 0) {
      const c = stack.pop()!;
      for (const r of this.#roots.get(c) ?? []) found.add(r);
      for (const child of children.get(c) ?? []) {
        if (!seen.has(child)) {
          seen.add(child);
          stack.push(child);
        }
      }
    }
    return found;
  }
}

function sorted(s: ReadonlySet<string>): string[] {
  return [...s].sort(cmp);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
