/**
 * Progress on stderr for long work: one self-overwriting line on a terminal, nothing in pipes
 * (so scripts and --json consumers see clean output). Throttled to ~10 updates a second.
 */
import type { ProgressEvent } from '../env.js';
import { formatBytes } from './format.js';

export function progressRenderer(stderr: { write(s: string): unknown; isTTY?: boolean }, now = () => Date.now()) {
  if (!stderr.isTTY) return { onProgress: undefined, done() {} };
  let last = 0;
  let shown = false;
  const start = now();
  return {
    onProgress(e: ProgressEvent) {
      const t = now();
      if (t - last < 100 && e.done !== e.total) return;
      last = t;
      shown = true;
      const secs = (t - start) / 1000;
      const rate = e.bytes !== undefined && secs > 0 ? ` ${formatBytes(e.bytes / secs)}/s` : '';
      const total = e.total !== undefined ? `/${e.total}` : '';
      const bytes = e.bytes !== undefined ? ` ${formatBytes(e.bytes)}${e.totalBytes ? `/${formatBytes(e.totalBytes)}` : ''}` : '';
      let eta = '';
      if (e.totalBytes && e.bytes && secs > 1) eta = ` ETA ${Math.max(0, Math.round(((e.totalBytes - e.bytes) / e.bytes) * secs))} s`;
      stderr.write(`\r\x1b[K${e.phase} ${e.done}${total}${bytes}${rate}${eta}`);
    },
    done() {
      if (shown) stderr.write('\r\x1b[K');
    },
  };
}
