import { withRepository, type CommonOptions } from './context.js';
import type { Commit } from '../model/commit.js';

export interface LogOptions extends CommonOptions {
  rev?: string;
  limit?: number;
}

export interface LogEntry {
  id: string;
  commit: Commit;
  refs: string[];
}

/**
 * Commits reachable from REV (default HEAD) by first parents, newest first.
 * @example
 *   for (const { id, commit } of await log({ dir: '.', limit: 10 })) console.log(id, commit.message);
 */
export async function log(options: LogOptions): Promise<LogEntry[]> {
  return withRepository(options, async (repo) => {
    const start = options.rev ? await repo.resolveRev(options.rev, options.signal) : await repo.headCommit(options.signal);
    if (!start) return [];
    const refsById = new Map<string, string[]>();
    for (const ref of await repo.refs.list(options.signal)) {
      refsById.set(ref.id, [...(refsById.get(ref.id) ?? []), ref.name.replace(/^refs\/(heads|tags)\//, '')]);
    }
    const out: LogEntry[] = [];
    const seen = new Set<string>();
    for (let id: string | undefined = start; id && out.length < (options.limit ?? Infinity) && !seen.has(id); ) {
      seen.add(id);
      const commit = await repo.readCommit(id, options.signal);
      out.push({ id, commit, refs: refsById.get(id) ?? [] });
      id = commit.parents[0];
    }
    return out;
  });
}
