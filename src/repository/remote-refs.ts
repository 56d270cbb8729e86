/**
 * Remote-tracking refs: what each remote's refs pointed at when this repository last talked to
 * it, in `.mlstore/remotes/<remote>.json` (`{"refs":{"refs/heads/main":"<id>",…},"updated":…}`).
 *
 * They live apart from `refs/` on purpose: the RefStore holds only this repository's own branches
 * and tags (and a push copies `refs/` keys verbatim), so a remote's view can never be mistaken for
 * a local branch or be pushed back by accident. A value is recorded only after every object it
 * reaches was fetched (or pushed), so a tracking ref never names a commit the local store lacks.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MlstoreError, fromFsError } from '../errors.js';
import { isDigest } from '../core/digest.js';
import { parseFullRef } from '../model/ref-name.js';
import { writeFileAtomic } from './atomic-file.js';

export interface TrackingRefs {
  /** Full ref name → commit id. */
  refs: Record<string, string>;
  /** ISO time of the last update, or null when never fetched. */
  updated: string | null;
}

function pathOf(storeDir: string, remote: string): string {
  return join(storeDir, 'remotes', `${remote}.json`);
}

export async function readTrackingRefs(storeDir: string, remote: string): Promise<TrackingRefs> {
  const path = pathOf(storeDir, remote);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { refs: {}, updated: null };
    throw fromFsError(e, path, 'read');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MlstoreError('BAD_CONFIG', `${path} is not valid JSON`, { cause: e, hint: 'Delete it; the next fetch rebuilds it.' });
  }
  const refs: Record<string, string> = {};
  const r = (raw as { refs?: unknown } | null)?.refs;
  if (r && typeof r === 'object') {
    for (const [name, id] of Object.entries(r as Record<string, unknown>)) {
      if (parseFullRef(name) && typeof id === 'string' && isDigest(id)) refs[name] = id;
    }
  }
  const updated = (raw as { updated?: unknown } | null)?.updated;
  return { refs, updated: typeof updated === 'string' ? updated : null };
}

/**
 * Records `changes` (ref → id, or null for a ref the remote no longer has). With `replaceAll`,
 * refs not named in `changes` are dropped (a full fetch saw every ref the remote has).
 */
export async function updateTrackingRefs(
  storeDir: string,
  remote: string,
  changes: Readonly<Record<string, string | null>>,
  now: Date,
  replaceAll = false,
): Promise<TrackingRefs> {
  const current = replaceAll ? { refs: {} } : await readTrackingRefs(storeDir, remote);
  const refs: Record<string, string> = { ...current.refs };
  for (const [name, id] of Object.entries(changes)) {
    if (id === null) delete refs[name];
    else refs[name] = id;
  }
  const sorted = Object.fromEntries(Object.entries(refs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const doc: TrackingRefs = { refs: sorted, updated: now.toISOString() };
  const dir = join(storeDir, 'remotes');
  await mkdir(dir, { recursive: true }).catch((e: unknown) => {
    throw fromFsError(e, dir, 'create');
  });
  await writeFileAtomic(pathOf(storeDir, remote), `${JSON.stringify({ remote, ...doc }, null, 2)}\n`);
  return doc;
}

export async function deleteTrackingRefs(storeDir: string, remote: string): Promise<void> {
  await rm(pathOf(storeDir, remote), { force: true });
}
