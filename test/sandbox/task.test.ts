/**
 * Typed namespace tasks: the handle names the task, and errors come back
 * out of the namespace as their own class (when the task lists it), with
 * code, exit code and data fields; wrapping keeps the class too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileConflictError } from '../../src/apk/package-error.js';
import { EibError, HostError, wrapError } from '../../src/errors.js';
import { deserializeError, runInNamespace } from '../../src/sandbox/namespace.js';
import { serializeError } from '../../src/sandbox/protocol.js';
import { findTask } from '../../src/sandbox/task.js';
import * as tasks from './tasks.js';

test('an error listed by its task crosses the namespace as its class, with its fields', async () => {
  const e = await runInNamespace(tasks.conflictTask, { path: 'bin/ls' }).then(
    () => assert.fail('the task should fail'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof FileConflictError);
  assert.equal(e.code, 'EFILECONFLICT');
  assert.equal(e.package, 'busybox-1.36.1-r29');
  assert.equal(e.path, 'bin/ls');
  assert.deepEqual(e.owners, ['coreutils-9.5-r1']);
  assert.match(e.message, /^busybox-1\.36\.1-r29: trying to overwrite \/bin\/ls owned by coreutils-9\.5-r1/);
  assert.match(e.stack ?? '', /inside the sandbox namespace/);

  const unlisted = await runInNamespace(tasks.unlistedConflictTask, { path: 'bin/ls' }).catch((err: unknown) => err);
  assert.ok(unlisted instanceof EibError && !(unlisted instanceof FileConflictError));
  assert.equal(unlisted.name, 'FileConflictError');
  assert.equal(unlisted.code, 'EFILECONFLICT');
});

test('serialized errors keep class, exit code and fields; the shared classes need no listing; wrapError keeps the class', () => {
  const back = deserializeError(serializeError(new HostError('no qemu')));
  assert.ok(back instanceof HostError);
  assert.equal(back.exitCode, 1);
  const usage = deserializeError(serializeError(new EibError('ECONFIGX', 'bad', { exitCode: 2 })));
  assert.equal(usage.exitCode, 2);

  const wrapped = wrapError('stage base (aarch64)', deserializeError(serializeError(new FileConflictError('a-1', 'etc/x', ['b-2'])), [FileConflictError]));
  assert.ok(wrapped instanceof FileConflictError);
  assert.equal(wrapped.message, 'stage base (aarch64): a-1: trying to overwrite /etc/x owned by b-2; remove one of the packages, or add a "replaces" to the new one');
  assert.deepEqual([wrapped.path, wrapped.owners, wrapped.name], ['etc/x', ['b-2'], 'FileConflictError']);
});

test('the entry finds a task by its handle name, and says so when a module does not export it', () => {
  const url = tasks.conflictTask.module;
  assert.equal(findTask(tasks, url, 'conflictTask'), tasks.conflictTask);
  assert.throws(() => findTask(tasks, url, 'noSuchTask'), /exports no namespace task named noSuchTask/);
});
