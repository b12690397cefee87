/**
 * eib init: the starter project names its schema, release, arch and name;
 * a second init in the same folder refuses and changes nothing; the project
 * passes `eib config` as written, and builds offline (as the unprivileged
 * test user) once its repositories point at the test repository, plus a
 * one-package repository that stands in for alpine-base. The rootfs.tar.gz
 * it writes is read with tar.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { SCHEMA_PATH } from '../../src/config/schema.js';
import { buildRepository, loadSigningKey } from '../helpers/apk-builder.js';
import { runEib } from '../helpers/cli.js';
import { SHARED_ALPINE, testUser, userTempDir } from '../helpers/user.js';

const REPO = join(SHARED_ALPINE, 'repo', 'v3.20', 'main');
const skip = !existsSync(REPO) && 'no shared Alpine data';
const root = userTempDir('eib-init-');
after(() => rmSync(root, { recursive: true, force: true }));

function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = `${statSync(p).mtimeMs} ${readFileSync(p, 'utf8')}`;
    }
  };
  walk(dir);
  return out;
}

test('eib init writes a commented project, refuses a second time, and the project builds offline against the test repository', { skip }, async () => {
  const init = await runEib(['init', 'gateway', '--arch', 'x86_64', '--name', 'initdemo'], { cwd: root });
  assert.equal(init.code, 0, init.stderr);
  const dir = join(root, 'gateway');
  const written = listing(dir);
  assert.deepEqual(Object.keys(written).sort(), ['.gitignore', 'eib.yaml', 'overlay/etc/motd', 'overlay/etc/network/interfaces', 'scripts/configure.sh']);
  const yaml = readFileSync(join(dir, 'eib.yaml'), 'utf8');
  assert.equal(yaml.split('\n')[0], `# yaml-language-server: $schema=${SCHEMA_PATH}`);
  assert.match(yaml, /^name: initdemo$/m);
  assert.match(yaml, /^arch: x86_64$/m);
  assert.match(yaml, /^ {2}release: v3\.20$/m);
  assert.match(readFileSync(join(dir, '.gitignore'), 'utf8'), /^\/out\/$/m);
  assert.equal(statSync(join(dir, 'scripts', 'configure.sh')).mode & 0o111, 0o111, 'the script is executable');

  const again = await runEib(['init', 'gateway', '--arch', 'aarch64'], { cwd: root });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /gateway already has eib\.yaml, \.gitignore, .*never overwrites a file, and changed nothing/);
  assert.deepEqual(listing(dir), written, 'nothing changed');

  const config = await runEib(['config', '--json'], { cwd: dir });
  assert.equal(config.code, 0, config.stderr);
  const normalized = JSON.parse(config.stdout) as { alpine: { repositories: string[]; keys: string[] } };
  assert.deepEqual(normalized.alpine.repositories, ['https://dl-cdn.alpinelinux.org/alpine/v3.20/main', 'https://dl-cdn.alpinelinux.org/alpine/v3.20/community']);
  assert.equal(normalized.alpine.keys.length, 17);

  // Offline: the test repository, and alpine-base as a meta package over what it has.
  const extra = join(dir, 'extra-repo');
  await buildRepository(extra, 'x86_64', [{ name: 'alpine-base', version: '3.20.3-r0', depends: ['alpine-baselayout', 'busybox', 'busybox-binsh', 'apk-tools'], files: [] }], loadSigningKey(join(SHARED_ALPINE, 'keys', 'eib-test-0001.rsa')));
  const user = testUser();
  if (!user.self) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, extra]);
  writeFileSync(join(dir, 'eib.yaml'), yaml.replace(/^ {2}release: v3\.20$/m, `  repositories: [${REPO}, ./extra-repo]\n  keys: [${join(SHARED_ALPINE, 'keys')}]`));
  const build = await runEib(['build'], { cwd: dir });
  assert.equal(build.code, 0, build.stderr);
  const tarball = join(dir, 'out', 'rootfs.tar.gz');
  const read = (path: string): string => execFileSync('tar', ['-xzOf', tarball, path], { encoding: 'utf8' });
  assert.equal(read('etc/hostname'), 'initdemo\n');
  assert.equal(read('etc/motd'), 'Welcome to initdemo, built with eib.\n');
  assert.match(read('etc/passwd'), /^admin:x:\d+:\d+:/m);
  assert.match(read('etc/network/interfaces'), /iface eth0 inet dhcp/);
  const names = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
  assert.ok(names.some((n) => /^(\.\/)?bin\/busybox$/.test(n)));
  assert.ok(!names.some((n) => /^(\.\/)?var\/cache\/apk\/./.test(n)), 'the prune stage emptied the apk cache');
});
