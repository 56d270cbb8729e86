/** Which commands a run registers: the one it names, or all of them when that is not plain. */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { commandName, registerCommands } from './index.js';
import type { CliIo } from '../io.js';

const io = {} as CliIo; // registering reads nothing from it
async function registered(argv: string[]): Promise<string[]> {
  const program = new Command('mlstore').option('-C <dir>').option('-q, --quiet');
  await registerCommands(program, io, argv);
  return program.commands.map((c) => c.name());
}

describe('commandName', () => {
  it('finds the command after the program options, with or without -C and its directory', () => {
    expect(commandName(['status', '--json'])).toBe('status');
    expect(commandName(['-C', 'status', 'add', 'x'])).toBe('add'); // a directory named like a command
    expect(commandName(['-Cdir', 'log'])).toBe('log');
    expect(commandName(['-q', '-C', 'dir', 'commit', '-m', 'x'])).toBe('commit');
    expect(commandName(['-qC', 'add', 'status'])).toBe('status');
    expect(commandName(['--quiet', 'push'])).toBe('push');
  });

  it('gives no answer when commander must judge: help, version, a terminator, an option it does not know before -C', () => {
    for (const argv of [[], ['--help'], ['-V'], ['--', 'status'], ['-xC', 'dir', 'status'], ['-C']]) expect(commandName(argv), argv.join(' ')).toBeUndefined();
  });
});

describe('registerCommands', () => {
  it('registers only the command run (branch and tag come together)', async () => {
    expect(await registered(['status'])).toEqual(['status']);
    expect(await registered(['-C', 'x', 'tag', 'v1'])).toEqual(['branch', 'tag']);
  });

  it('registers every command, in help order, when none is named or the name is not a command', async () => {
    const all = await registered([]);
    expect(all).toEqual(['init', 'add', 'status', 'commit', 'log', 'show', 'diff', 'branch', 'tag', 'checkout', 'key', 'sign', 'verify', 'lineage', 'attest', 'remote', 'push', 'fetch', 'pull', 'fsck']);
    expect(await registered(['stauts'])).toEqual(all);
    expect(await registered(['help', 'status'])).toEqual(all);
  });
});
