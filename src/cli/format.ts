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
  // JSON.stringify escapes C0 controls but not C1 ones or bidirectional overrides: showText does
  return /^[\w./@+-]+$/u.test(path) ? path : showText(JSON.stringify(path));
}

/**
 * Text from a commit (message, author, input paths, environment components) for a terminal: it
 * may come from anyone who can push, and raw control characters in it could move the cursor,
 * rewrite what was printed before, set the window title or the clipboard (ESC/OSC sequences), or
 * reorder what is shown (bidirectional overrides). Those characters are shown as \u{…} escapes;
 * everything else, any language included, is left as it is. `--json` output needs none of this.
 */
export function showText(text: string): string {
  // C0 controls but tab, DEL, C1 controls, and the bidirectional embeddings, overrides and isolates
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** showText for text of several lines: the newlines stay. */
export function showLines(text: string): string {
  return text.split('\n').map(showText).join('\n');
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
