/**
 * Branches and tags: `refs/heads/<name>` and `refs/tags/<name>` keys holding "<commit id>\n".
 * Every update is a compare-and-swap against the value the caller last saw, so two writers
 * (two processes, or two pushes to one bucket) can never silently lose a commit: the loser gets
 * REF_CONFLICT and re-reads.
 */
import { MlstoreError } from '../errors.js';
import { isDigest } from '../core/digest.js';
import type { Backend } from '../storage/backend.js';
import { parseFullRef } from '../model/ref-name.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface RefValue {
  name: string;
  id: string;
  /** Backend version token for compare-and-swap. */
  version: string;
}

export class RefStore {
  constructor(readonly backend: Backend) {}

  async read(name: string, signal?: AbortSignal): Promise<RefValue | undefined> {
    checkName(name);
    const doc = await this.backend.getVersioned(name, { maxBytes: 1024, ...(signal ? { signal } : {}) });
    if (!doc) return undefined;
    const id = decoder.decode(doc.bytes).trim();
    if (!isDigest(id)) {
      throw new MlstoreError('CORRUPT_OBJECT', `ref ${name} in ${this.backend.location} does not hold a commit id`, {
        details: { ref: name, kind: 'ref' },
      });
    }
    return { name, id, version: doc.version };
  }

  /**
   * Moves `name` to `id` if it still holds `expected` (undefined: only if it does not exist).
   * Throws REF_CONFLICT when another writer moved it first.
   */
  async update(name: string, id: string, expected: RefValue | undefined, signal?: AbortSignal): Promise<void> {
    checkName(name);
    if (!isDigest(id)) throw new MlstoreError('INTERNAL', `refusing to write a non-id to ${name}`);
    const ok = await this.backend.putIfVersion(name, encoder.encode(`${id}\n`), expected?.version ?? null, signal ? { signal } : {});
    if (!ok) {
      throw new MlstoreError('REF_CONFLICT', `${name} in ${this.backend.location} was changed by someone else`, {
        details: { ref: name, location: this.backend.location },
        hint: 'Fetch or re-read the ref and try again.',
      });
    }
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    checkName(name);
    await this.backend.delete(name, signal ? { signal } : {});
  }

  /** Every valid ref under refs/ (invalid names are skipped here; fsck reports them). */
  async list(signal?: AbortSignal): Promise<RefValue[]> {
    const out: RefValue[] = [];
    for await (const info of this.backend.list('refs/', signal ? { signal } : {})) {
      if (!parseFullRef(info.key)) continue;
      const ref = await this.read(info.key, signal);
      if (ref) out.push(ref);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

function checkName(name: string): void {
  if (!parseFullRef(name)) throw new MlstoreError('BAD_NAME', `invalid ref name ${JSON.stringify(name)}`, { details: { ref: name } });
}
