import { withRepository, sig, type CommonOptions } from './context.js';
import { workspaceStatus, type WorkspaceStatus } from '../workspace/status.js';

export interface StatusOptions extends CommonOptions {
  verify?: boolean;
}

/**
 * New, modified and deleted tracked files against the commit HEAD points at.
 * @example
 *   const s = await status({ dir: '.' }); if (!s.clean) console.log(s.modified);
 */
export async function status(options: StatusOptions): Promise<WorkspaceStatus> {
  return withRepository(options, (repo) => workspaceStatus(repo, { verify: options.verify ?? false, ...sig(options.signal) }));
}
