// Command-line options shared by the bench scripts: `--name value` and bare `--flag`.
const args = process.argv.slice(2);

/** The text after `--name`, or `fallback`. */
export function arg(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

/** The number after `--name`, or `fallback`. */
export function opt(name, fallback) {
  const text = arg(name, undefined);
  return text === undefined ? fallback : Number(text);
}

/** Whether `--name` was given. */
export function flag(name) {
  return args.includes(`--${name}`);
}
