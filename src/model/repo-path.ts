/**
 * Repo-relative paths as mlstore stores them ('/'-separated, no leading '/'): the tracked roots in
 * `.mlstore/tracked.json` and in `mlstore.lock`. Validated whenever they are read, like tree
 * names (name.ts), because `mlstore.lock` comes from Git.
 */
import { nameProblem } from './name.js';

/**
 * Why a stored repo-relative path (a tracked root in `tracked.json` or `mlstore.lock`) is not
 * valid, or undefined when it is: non-empty, '/'-separated, every component a valid name (no '',
 * '.', '..', '\\', NUL, .git or .mlstore). `mlstore.lock` comes from Git, i.e. from whoever
 * pushed the code: a root like "../../etc" would make `status` scan, and `checkout --force`
 * delete, files outside the repository.
 */
export function repoPathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'is not a string';
  if (path === '') return 'is empty (the repository root cannot be tracked)';
  for (const part of path.split('/')) {
    const problem = nameProblem(part);
    if (problem) return `has a component ${JSON.stringify(part)} that ${problem}`;
  }
  return undefined;
}

/** The first invalid path of `paths` with why (repoPathProblem), or undefined. */
export function invalidRepoPath(paths: readonly unknown[]): string | undefined {
  for (const path of paths) {
    const problem = repoPathProblem(path);
    if (problem) return `the path ${JSON.stringify(path)} ${problem}`;
  }
  return undefined;
}
