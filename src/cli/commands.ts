/**
 * Every command, by id: oclif's explicit command table, which lets the CLI run as one bundled file.
 *
 * The command modules are evaluated at every start (oclif needs their
 * classes), so each imports its library with `await import()` in run():
 * starting the CLI evaluates only this table, the constants its flags name
 * and what all commands share (oclif, the base command, the configuration
 * loader).
 */
import type { Command } from '@oclif/core';
import Boot from '../commands/boot.js';
import Build from '../commands/build.js';
import CacheVerify from '../commands/cache/verify.js';
import Completion from '../commands/completion.js';
import ConfigCommand from '../commands/config.js';
import Diff from '../commands/diff.js';
import Doctor from '../commands/doctor.js';
import Export from '../commands/export.js';
import Gc from '../commands/gc.js';
import Init from '../commands/init.js';
import Lock from '../commands/lock.js';
import Ls from '../commands/ls.js';
import Push from '../commands/push.js';
import Sbom from '../commands/sbom.js';
import Shell from '../commands/shell.js';
import Size from '../commands/size.js';

export const COMMANDS: Record<string, Command.Class> = {
  boot: Boot,
  build: Build,
  'cache:verify': CacheVerify,
  completion: Completion,
  config: ConfigCommand,
  diff: Diff,
  doctor: Doctor,
  export: Export,
  gc: Gc,
  init: Init,
  lock: Lock,
  ls: Ls,
  push: Push,
  sbom: Sbom,
  shell: Shell,
  size: Size,
};
