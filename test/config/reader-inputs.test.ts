/**
 * What the config reader must survive besides malformed YAML: a
 * configuration "file" that is a FIFO (reading it would wait for a writer
 * forever) or a device is refused at once with exit 2, through the real CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { writeTree } from './tree.js';

test('eib.yaml that is a FIFO or a device is refused at once, exit 2', async () => {
  const dir = writeTree({}, { forUser: true });
  execFileSync('mkfifo', ['-m', '0644', join(dir, 'eib.yaml')]);
  // A reader that blocked on the FIFO would be killed by this timeout, failing the test.
  const fifo = await runEib(['config'], { cwd: dir, timeoutMs: 60_000 });
  assert.equal(fifo.code, 2, fifo.stderr);
  assert.match(fifo.stderr, /^error: cannot read configuration file eib\.yaml: it is a FIFO \(named pipe\); expected a regular YAML file$/m);
  const device = await runEib(['build', '--config', '/dev/zero'], { cwd: dir, timeoutMs: 60_000 });
  assert.equal(device.code, 2, device.stderr);
  assert.match(device.stderr, /^error: cannot read configuration file \/dev\/zero: it is a character device; expected a regular YAML file$/m);
});
