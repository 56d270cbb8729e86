/** Every CLI command, in the order `--help` lists them. One register function per file. */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { registerInit } from './init.js';
import { registerAdd } from './add.js';
import { registerStatus } from './status.js';
import { registerCommit } from './commit.js';
import { registerLog } from './log.js';
import { registerShow } from './show.js';
import { registerDiff } from './diff.js';
import { registerRefs } from './refs.js';
import { registerCheckout } from './checkout.js';
import { registerKey } from './key.js';
import { registerSign } from './sign.js';
import { registerVerify } from './verify.js';
import { registerLineage } from './lineage.js';
import { registerAttest } from './attest.js';
import { registerRemote } from './remote.js';
import { registerPush } from './push.js';
import { registerFetch } from './fetch.js';
import { registerPull } from './pull.js';
import { registerFsck } from './fsck.js';

export function registerCommands(program: Command, io: CliIo): void {
  registerInit(program, io);
  registerAdd(program, io);
  registerStatus(program, io);
  registerCommit(program, io);
  registerLog(program, io);
  registerShow(program, io);
  registerDiff(program, io);
  registerRefs(program, io);
  registerCheckout(program, io);
  registerKey(program, io);
  registerSign(program, io);
  registerVerify(program, io);
  registerLineage(program, io);
  registerAttest(program, io);
  registerRemote(program, io);
  registerPush(program, io);
  registerFetch(program, io);
  registerPull(program, io);
  registerFsck(program, io);
}
