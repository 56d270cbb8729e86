/** Human-readable rendering helpers shared by commands. */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** Quotes a path for display when it holds spaces, newlines or other surprises. */
export function showPath(path: string): string {
  return /^[\w./@+-]+$/u.test(path) ? path : JSON.stringify(path);
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
