import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from './helpers/cli.js';
import { REPO_ROOT, userTempDir } from './helpers/user.js';

test('eib --version prints the package version', async () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = await runEib(['--version'], { cwd: userTempDir() });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^eib/${pkg.version.replaceAll('.', '\\.')} `));
});

test('an unknown command exits 2 with a one-line error', async () => {
  const r = await runEib(['frobnicate'], { cwd: userTempDir() });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /frobnicate/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
