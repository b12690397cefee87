/**
 * The namespace bundle's entry (dist/eib-namespace.cjs, see launch.ts):
 * serves a namespace task, loading its module from the bundle by its path
 * in dist/. A bundle of its own, without oclif and the commands, because
 * every stage starts it.
 */
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNamespaceEntry } from '../sandbox/entry.js';
import { TASK_MODULES } from './task-modules.js';

export function namespaceEntry(bundle: string, beforeExit: () => Promise<void>): void {
  runNamespaceEntry((url) => {
    const path = relative(dirname(bundle), fileURLToPath(url));
    const load = TASK_MODULES[path];
    if (load === undefined) throw new TypeError(`no namespace task module ${path} in the bundle (src/cli/task-modules.ts)`);
    return load();
  }, beforeExit);
}
