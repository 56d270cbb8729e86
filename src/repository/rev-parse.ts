/**
 * REV syntax: a full id, a unique id prefix (≥ 4 hex digits), a branch, a tag, `HEAD`, each
 * optionally followed by `~N` (N first-parents back) or `^` (one back).
 */
import { MlstoreError, isMlstoreError } from '../errors.js';
import { isDigest } from '../core/digest.js';
import type { ObjectStore } from './object-store.js';
import type { RefStore } from './refs.js';
import type { Head } from './head.js';
import { objectPrefix, parseObjectKey } from './layout.js';
import { refProblem } from '../model/ref-name.js';

export interface RevContext {
  objects: ObjectStore;
  refs: RefStore;
  head: () => Promise<Head>;
}

export async function resolveRev(ctx: RevContext, rev: string, signal?: AbortSignal): Promise<string> {
  const m = /^(.*?)((?:~\d*|\^)*)$/.exec(rev);
  const base = m?.[1] ?? rev;
  if (base.length === 0 || base.length > 256) throw badRev(rev, 'is empty or too long');
  let id = await resolveBase(ctx, base, rev, signal);
  for (const step of (m?.[2] ?? '').match(/~\d*|\^/g) ?? []) {
    const n = step === '^' || step === '~' ? 1 : Number(step.slice(1));
    for (let i = 0; i < n; i++) {
      const commit = await ctx.objects.readCommit(id, signal ? { signal } : {});
      const parent = commit.parents[0];
      if (!parent) throw new MlstoreError('UNKNOWN_REV', `${rev} goes back further than the first commit`, { details: { rev } });
      id = parent;
    }
  }
  return id;
}

async function resolveBase(ctx: RevContext, base: string, rev: string, signal?: AbortSignal): Promise<string> {
  if (base === 'HEAD' || base === '@') {
    const head = await ctx.head();
    if (head.kind === 'detached') return head.id;
    const ref = await ctx.refs.read(head.ref, signal);
    if (!ref) throw new MlstoreError('UNKNOWN_REV', 'HEAD has no commits yet', { details: { rev }, hint: 'Run `mlstore commit -m MSG` first.' });
    return ref.id;
  }
  if (isDigest(base)) return base;
  const candidates: string[] = [];
  if (base.startsWith('refs/')) candidates.push(base);
  else if (!refProblem(base)) candidates.push(`refs/heads/${base}`, `refs/tags/${base}`);
  const found: string[] = [];
  for (const name of candidates) {
    const ref = await ctx.refs.read(name, signal).catch((e: unknown) => {
      if (isMlstoreError(e, 'BAD_NAME')) return undefined;
      throw e;
    });
    if (ref) found.push(ref.id);
  }
  if (found.length > 0) {
    if (found.length > 1 && found[0] !== found[1]) {
      throw new MlstoreError('AMBIGUOUS_REV', `${base} is both a branch and a tag`, {
        details: { rev },
        hint: `Say refs/heads/${base} or refs/tags/${base}.`,
      });
    }
    return found[0]!;
  }
  if (/^[0-9a-f]{4,63}$/.test(base)) return resolvePrefix(ctx, base, rev, signal);
  throw new MlstoreError('UNKNOWN_REV', `no branch, tag or commit named ${JSON.stringify(base)}`, {
    details: { rev },
    hint: 'See `mlstore log`, `mlstore branch` and `mlstore tag` for what exists.',
  });
}

async function resolvePrefix(ctx: RevContext, prefix: string, rev: string, signal?: AbortSignal): Promise<string> {
  const matches: string[] = [];
  for await (const info of ctx.objects.backend.list(objectPrefix('meta', prefix), signal ? { signal } : {})) {
    const parsed = parseObjectKey(info.key);
    if (!parsed || !parsed.id.startsWith(prefix)) continue;
    // Only commits count: trees and manifests share the namespace.
    const isCommit = await ctx.objects.readCommit(parsed.id, signal ? { signal } : {}).then(
      () => true,
      () => false,
    );
    if (isCommit) matches.push(parsed.id);
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new MlstoreError('UNKNOWN_REV', `no commit id starts with ${prefix}`, { details: { rev } });
  throw new MlstoreError('AMBIGUOUS_REV', `${prefix} matches ${matches.length} commits`, {
    details: { rev, matches },
    hint: 'Give more digits of the id.',
  });
}

function badRev(rev: string, why: string): MlstoreError {
  return new MlstoreError('BAD_REV', `revision ${JSON.stringify(rev)} ${why}`, { details: { rev } });
}
