/** Options every API verb takes, and the helper that opens the repository they name. */
import type { Env } from '../env.js';
import { Repository } from '../repository/repository.js';

export interface CommonOptions {
  /** A directory inside the repository (default: the current directory of the caller). */
  dir: string;
  env?: Env;
  signal?: AbortSignal;
}

export async function withRepository<T>(options: CommonOptions, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await Repository.find(options.dir, options.env ? { env: options.env } : {});
  try {
    return await fn(repo);
  } finally {
    await repo.close();
  }
}

export function sig(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}
