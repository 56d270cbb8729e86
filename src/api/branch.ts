import { MlstoreError } from '../errors.js';
import { fullRef } from '../model/ref-name.js';
import { withRepository, type CommonOptions } from './context.js';

export interface RefInfo {
  name: string;
  id: string;
  current?: boolean;
}

export interface BranchOptions extends CommonOptions {
  /** Create this branch (at `rev`, default HEAD); omit to list. */
  create?: string;
  rev?: string;
  /** Delete this branch. */
  delete?: string;
}

/**
 * Lists, creates or deletes branches.
 * @example
 *   await branch({ dir: '.', create: 'experiment' });
 */
export async function branch(options: BranchOptions): Promise<RefInfo[]> {
  return refCommand(options, 'heads', options.create, options.delete);
}

export interface TagOptions extends CommonOptions {
  create?: string;
  rev?: string;
  delete?: string;
}

/**
 * Lists, creates or deletes tags. A tag never moves: creating an existing tag is refused.
 * @example
 *   await tag({ dir: '.', create: 'dataset-v1' });
 */
export async function tag(options: TagOptions): Promise<RefInfo[]> {
  return refCommand(options, 'tags', options.create, options.delete);
}

async function refCommand(options: CommonOptions & { rev?: string }, kind: 'heads' | 'tags', create?: string, del?: string): Promise<RefInfo[]> {
  const what = kind === 'heads' ? 'branch' : 'tag';
  return withRepository(options, async (repo) => {
    const head = await repo.head();
    if (create) {
      const name = fullRef(kind, create);
      await repo.withLock(what, async () => {
        const id = await repo.resolveRev(options.rev ?? 'HEAD', options.signal);
        await repo.readCommit(id, options.signal);
        if (await repo.refs.read(name, options.signal)) {
          throw new MlstoreError('ALREADY_EXISTS', `${what} ${create} already exists`, { details: { ref: name } });
        }
        await repo.refs.update(name, id, undefined, options.signal);
      });
    }
    if (del) {
      const name = fullRef(kind, del);
      await repo.withLock(what, async () => {
        if (!(await repo.refs.read(name, options.signal))) throw new MlstoreError('UNKNOWN_REV', `no ${what} named ${del}`);
        if (head.kind === 'branch' && head.ref === name) {
          throw new MlstoreError('USAGE', `cannot delete the current branch ${del}`, { hint: 'Check out another branch first.' });
        }
        await repo.refs.delete(name, options.signal);
      });
    }
    const prefix = `refs/${kind}/`;
    return (await repo.refs.list(options.signal))
      .filter((r) => r.name.startsWith(prefix))
      .map((r) => ({ name: r.name.slice(prefix.length), id: r.id, ...(head.kind === 'branch' && head.ref === r.name ? { current: true } : {}) }));
  });
}
