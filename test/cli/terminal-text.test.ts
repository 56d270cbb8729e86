/**
 * Commit text reaches the terminal defanged: a message, author or input path pushed by someone
 * else must not carry escape sequences (cursor moves, screen clears, OSC title or clipboard
 * writes) or bidirectional overrides to the reader's terminal: log, show, commit, status and the
 * DOT/Mermaid lineage. `--json` keeps the exact text.
 */
import { describe, expect, it } from 'vitest';
import { showText } from '../../src/cli/format.js';
import { runCli, runJson } from '../helpers/cli.js';
import { newRepo, writeFiles } from '../helpers/repo.js';

/** Every control character a terminal acts on, except the newline that ends each line. */
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('commit text on a terminal', () => {
  it('showText escapes controls and bidi overrides, keeps every language and tabs', () => {
    expect(showText('plain: 日本語, ñ, emoji 🙂,\ttab')).toBe('plain: 日本語, ñ, emoji 🙂,\ttab');
    expect(showText('a\u001b[2Jb\u0007c\rd\u202ee\u0085')).toBe('a\\u{1b}[2Jb\\u{7}c\\u{d}d\\u{202e}e\\u{85}');
  });

  it('log, log --oneline, show and commit print no raw control characters; --json keeps them', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/a.txt': 'a\n' });
    const hostile = 'train \u001b]52;c;ZXZpbA==\u0007set clipboard\r\u001b[2Jcleared \u202etxt.exe';
    const vars = { MLSTORE_AUTHOR_NAME: 'Eve \u001b[8mhidden', MLSTORE_AUTHOR_EMAIL: 'eve@\u001b[1mexample.com' };
    expect((await runCli(['add', 'data'], { cwd: repo })).code).toBe(0);
    const base = await runJson(['commit', '-m', 'base'], { cwd: repo });
    const committed = await runCli(['commit', '-m', `${hostile}\nsecond line \u009b31m`, '--input', `${base.json.id}:data/\u001b[31ma.txt`, '--allow-empty'], { cwd: repo, vars });
    expect(committed.code, committed.stderr).toBe(0);
    for (const args of [['log'], ['log', '--oneline'], ['show', 'HEAD'], ['status'], ['lineage', 'HEAD', '--format', 'dot'], ['lineage', 'HEAD', '--format', 'mermaid']]) {
      const r = await runCli(args, { cwd: repo });
      expect(r.code, r.stderr).toBe(0);
      expect(RAW.test(r.stdout), `${args.join(' ')}: ${JSON.stringify(r.stdout)}`).toBe(false);
    }
    expect(RAW.test(committed.stdout), JSON.stringify(committed.stdout)).toBe(false);
    expect((await runCli(['show', 'HEAD'], { cwd: repo })).stdout).toContain('train \\u{1b}]52;c;ZXZpbA==\\u{7}set clipboard');
    // an error message quoting a hostile name (a tag that is not a valid name)
    const bad = await runCli(['tag', 'v1\u001b[2J\u202e'], { cwd: repo });
    expect(bad.code).toBe(2);
    expect(RAW.test(bad.stderr), JSON.stringify(bad.stderr)).toBe(false);
    const json = await runJson(['log'], { cwd: repo });
    expect(json.json.commits[0].commit.message).toBe(`${hostile}\nsecond line \u009b31m`);
    expect(json.json.commits[0].commit.author.name).toBe('Eve \u001b[8mhidden');
  });
});
