/** Flags and rendering shared by push, fetch and pull. */
import { MlstoreError } from '../../errors.js';
import { formatBytes, formatDuration } from '../format.js';

// The AWS SDK warns on every run under Node < 22 about its own future support policy; that is
// noise on a user's terminal (and in cron mail). Setting the variable to 'false' brings it back.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

export function parseJobs(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new MlstoreError('USAGE', `--jobs must be an integer from 1 to 256, got ${JSON.stringify(text)}`);
  return n;
}

/** "12 objects, 3.4 MiB in 1.20 s (2.8 MiB/s)". */
export function rateLine(objects: number, bytes: number, seconds: number): string {
  const rate = seconds > 0 ? `, ${formatBytes(bytes / seconds)}/s, ${Math.round(objects / seconds)} objects/s` : '';
  return `${objects} object(s), ${formatBytes(bytes)} in ${formatDuration(seconds * 1000)}${rate}`;
}

export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}
