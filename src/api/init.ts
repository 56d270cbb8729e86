import { Repository } from '../repository/repository.js';
import type { ChunkingConfig } from '../repository/config.js';
import type { Env } from '../env.js';
import { ignoreInGit } from '../workspace/lock-file.js';

export interface InitOptions {
  dir: string;
  chunking?: Partial<ChunkingConfig>;
  env?: Env;
}

export interface InitResult {
  root: string;
  chunking: ChunkingConfig;
}

/**
 * Creates `.mlstore/` in `dir`.
 * @example
 *   const { root } = await init({ dir: '/data/project' });
 */
export async function init(options: InitOptions): Promise<InitResult> {
  const repo = await Repository.init(options.dir, {
    ...(options.chunking ? { chunking: options.chunking } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  try {
    await ignoreInGit(repo.root, []);
    return { root: repo.root, chunking: repo.config.chunking };
  } finally {
    await repo.close();
  }
}
