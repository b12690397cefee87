/**
 * The bundle's entry (dist/eib.cjs, see launch.ts): the command table oclif
 * reads (package.json names this bundle and COMMANDS as its explicit
 * command strategy) and the function the executable calls.
 */
import { execute } from '@oclif/core';

export { COMMANDS } from './commands.js';

/** Run the CLI; `dir` is the bundle's file URL, from which oclif finds package.json. */
export function main(dir: string, args: string[]): Promise<unknown> {
  return execute({ dir, args });
}
