/**
 * One rule for the arch of a single-image command: the one asked for, or
 * the only one; a multi-arch config without --arch is refused by export,
 * shell and sbom alike, never resolved to its first arch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { chooseArch } from '../../src/config/choose-arch.js';
import { UsageError } from '../../src/errors.js';
import { runEib } from '../helpers/cli.js';
import { REPO_ROOT, userTempDir } from '../helpers/user.js';

const FIXTURES = join(REPO_ROOT, 'fixtures', 'configs');
const ENV = { HOME: '/home/someone', XDG_CACHE_HOME: '/var/cache/someone' };

test('chooseArch: the only arch, an arch the config builds, or a usage error', async () => {
  const multi = await loadConfig({ path: 'multi-arch.yaml', cwd: FIXTURES, env: ENV });
  const single = await loadConfig({ path: 'minimal.yaml', cwd: FIXTURES, env: ENV });
  assert.equal(chooseArch(multi, 'x86_64'), 'x86_64');
  assert.throws(() => chooseArch(multi, undefined), (e: unknown) => e instanceof UsageError && /builds aarch64, x86_64: choose one with --arch$/.test(e.message));
  assert.throws(() => chooseArch(multi, 'riscv64'), (e: unknown) => e instanceof UsageError && /--arch riscv64: .* does not build for it; choose one of: aarch64, x86_64$/.test(e.message));
  assert.equal(single.arch.length, 1);
  assert.equal(chooseArch(single, undefined), single.arch[0]);
});

test('eib shell and eib export refuse a multi-arch config without --arch (exit 2), before looking for a build', async () => {
  const cwd = userTempDir();
  const config = join(FIXTURES, 'multi-arch.yaml');
  for (const args of [['shell', '--config', config, '--', 'true'], ['export', 'out.tar', '--config', config]]) {
    const r = await runEib(args, { cwd });
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /builds aarch64, x86_64: choose one with --arch/);
  }
});
