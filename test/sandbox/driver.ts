/**
 * Runs one task of tasks.ts in the sandbox, as whichever user starts it
 * (the tests start it as the unprivileged test user):
 *   node dist/test/sandbox/driver.js FN 'PAYLOAD-JSON'
 * FN `shell` calls openShell with the payload as its options.
 * Prints {"value": …} or {"error": {name, code, message, exitCode}} on
 * stdout and exits with 0 or the error's exit code.
 */
import { runInNamespace } from '../../src/sandbox/namespace.js';
import { openShell, type ShellOptions } from '../../src/sandbox/shell.js';
import { EibError } from '../../src/errors.js';
import * as tasks from './tasks.js';
import { isNamespaceTask, type NamespaceTask } from '../../src/sandbox/task.js';

const [fn, payload] = process.argv.slice(2);
if (fn === undefined) {
  process.stderr.write('usage: driver.js FN [PAYLOAD-JSON]\n');
  process.exit(2);
}
try {
  const input = JSON.parse(payload ?? 'null') as unknown;
  // `shell` goes through openShell (what `eib shell` calls); the rest are the tasks of tasks.ts (FN + "Task").
  const task = (tasks as Record<string, unknown>)[`${fn}Task`];
  if (fn !== 'shell' && !isNamespaceTask(task)) throw new Error(`tasks.ts has no task ${fn}Task`);
  const value = fn === 'shell' ? await openShell(input as ShellOptions) : await runInNamespace(task as NamespaceTask<unknown, unknown>, input);
  process.stdout.write(`${JSON.stringify({ value })}\n`);
} catch (e) {
  const err = e as EibError;
  process.stdout.write(`${JSON.stringify({ error: { name: err.name, code: err.code, message: err.message, exitCode: err.exitCode, isEibError: e instanceof EibError } })}\n`);
  process.exit(err.exitCode ?? 1);
}
