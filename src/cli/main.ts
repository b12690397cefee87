/**
 * The CLI bundle's entry (dist/eib.cjs, see launch.ts): the command table
 * oclif reads (package.json names this bundle and COMMANDS as its explicit
 * command strategy) and the CLI, which starts namespace tasks from the
 * namespace bundle (namespace-entry.ts).
 */
import { execute } from '@oclif/core';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { useNamespaceEntryCommand } from '../sandbox/entry-command.js';

export { COMMANDS } from './commands.js';

/** Run the CLI; `bundle` is the bundle's path, from which oclif finds package.json. */
export function main(bundle: string, args: string[]): Promise<unknown> {
  useNamespaceEntryCommand([process.execPath, fileURLToPath(new URL('./entry-launch.js', import.meta.url))]);
  return execute({ dir: pathToFileURL(bundle).href, args });
}
