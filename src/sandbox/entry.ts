/**
 * The process that runs inside the namespace (pid 1 of the new pid
 * namespace): reads the task from fd 3, loads its module, calls the
 * function and writes the outcome back. When eib goes away (the other end
 * of fd 3 closes) it exits at once, and with it every process of the
 * namespace and every mount.
 *
 * The program is entry-main.ts (modules imported from dist/src), or the
 * CLI's bundle when eib runs from it (see entry-command.ts), which loads a
 * task's module from the bundle instead.
 */
import { Socket } from 'node:net';
import { CHANNEL_FD, serializeError, type OutcomeMessage, type TaskContext, type TaskMessage } from './protocol.js';
import { findTask } from './task.js';

/** The exports of the module at a file URL (a task's module). */
export type ModuleLoader = (url: string) => Promise<Record<string, unknown>>;

/** Serve the one task eib sends over fd 3, then exit (after `beforeExit`, once the outcome is sent). */
export function runNamespaceEntry(load: ModuleLoader, beforeExit?: () => Promise<void>): void {
  const channel = new Socket({ fd: CHANNEL_FD, readable: true, writable: true });
  serve(channel, load, beforeExit).catch(async (e: unknown) => {
    await send(channel, { ok: false, error: serializeError(e) });
    process.exit(1);
  });
}

function readTask(channel: Socket): Promise<TaskMessage> {
  return new Promise((resolvePromise, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      channel.off('data', onData);
      try {
        resolvePromise(JSON.parse(buffered.slice(0, newline)) as TaskMessage);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    channel.on('data', onData);
  });
}

function send(channel: Socket, outcome: OutcomeMessage): Promise<void> {
  return new Promise((resolvePromise) => channel.write(`${JSON.stringify(outcome)}\n`, () => resolvePromise()));
}

async function serve(channel: Socket, load: ModuleLoader, beforeExit?: () => Promise<void>): Promise<void> {
  const stop = new AbortController();
  let taskStarted = false;
  // eib closed its end before we answered: it died or gave up. Ending pid 1
  // kills the whole pid namespace and drops the mount namespace.
  channel.on('end', () => process.exit(taskStarted ? 137 : 1));
  channel.on('error', () => process.exit(137));

  // pid 1 ignores signals it has no handler for; these make it stoppable.
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (stop.signal.aborted) process.exit(143);
      stop.abort(new Error(`received ${sig}`));
    });
  }

  const task = await readTask(channel);
  taskStarted = true;
  let outcome: OutcomeMessage;
  try {
    const run = findTask(await load(task.module), task.module, task.name);
    const ctx: TaskContext = {
      idMap: task.idMap,
      signal: stop.signal,
      progress: (event) => channel.write(`${JSON.stringify({ progress: event })}\n`),
    };
    const value: unknown = await run.run(task.payload, ctx);
    outcome = value === undefined ? { ok: true } : { ok: true, value };
  } catch (e) {
    outcome = { ok: false, error: serializeError(e) };
  }
  await send(channel, outcome);
  await beforeExit?.();
  process.exit(0);
}
