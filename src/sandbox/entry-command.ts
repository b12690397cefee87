/**
 * The program runInNamespace starts inside the namespace: by default
 * entry-main.js beside this module, run by this Node. The CLI, when it runs
 * from its bundle, names its own entry instead (src/cli/main.ts), which
 * starts from the same bundle and code cache: most of a stage's fixed cost
 * was Node loading the entry's modules one by one.
 */
import { fileURLToPath } from 'node:url';

let command: readonly string[] = [process.execPath, fileURLToPath(new URL('./entry-main.js', import.meta.url))];

export function namespaceEntryCommand(): readonly string[] {
  return command;
}

/** Start namespace tasks with `argv` (a program that calls runNamespaceEntry). */
export function useNamespaceEntryCommand(argv: readonly string[]): void {
  command = [...argv];
}
