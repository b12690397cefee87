/**
 * installPackages reads each package once and stages its entries under
 * temporary names: the pre-install sees none of them under their own names,
 * they appear only once the package verified and the pre-install ran, and a
 * fatal pre-install failure takes back all the package wrote — files,
 * links, created directories and the metadata of directories the root
 * already had.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApkPackageError } from '../../src/apk/package-error.js';
import type { ScriptRunner } from '../../src/apk/scripts.js';
import type { BuildPackage } from '../helpers/apk-builder.js';
import { install, shelve, workspace } from './install-fixtures.js';

const staged: BuildPackage = {
  name: 'staged',
  version: '1.0-r0',
  scripts: { 'pre-install': '#!/bin/sh\necho pre\n' },
  files: [
    { path: 'etc/', type: 'directory', mode: 0o750 },
    { path: 'etc/staged.conf', content: 'x=1\n' },
    { path: 'opt/', type: 'directory' },
    { path: 'opt/staged/', type: 'directory', mode: 0o2750, uid: 0, gid: 7, mtime: 1600000000 },
    { path: 'opt/staged/bin', content: '#!/bin/sh\n', mode: 0o755 },
    { path: 'opt/staged/alias', type: 'symlink', linkTarget: 'bin' },
    { path: 'opt/staged/hard', type: 'hardlink', linkTarget: 'opt/staged/bin', mode: 0o755 },
    { path: 'usr/share/staged/deep/file', content: 'parents made on the way\n' },
  ],
};

const finalNames = ['etc/staged.conf', 'opt/staged/bin', 'opt/staged/alias', 'opt/staged/hard', 'usr/share/staged/deep/file'];

function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function tempNames(root: string): string {
  return execFileSync('find', [root, '-name', '.apk.*'], { encoding: 'utf8' });
}

/** A runner that records which of the package's final names exist when the pre-install runs. */
function observingRunner(code: number): { runner: ScriptRunner; seen: string[][] } {
  const seen: string[][] = [];
  const runner: ScriptRunner = async (request) => {
    seen.push(finalNames.filter((p) => present(join(request.root, p))));
    return { code, output: code === 0 ? '' : 'refused\n' };
  };
  return { runner, seen };
}

test('the pre-install sees none of the files; after it, all are in place with their metadata and no temporary name is left', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [staged]);
  mkdirSync(join(w.root, 'etc'), { recursive: true });
  const { runner, seen } = observingRunner(0);
  await install(w.root, w.shelf, infos, { runScript: runner });
  assert.deepEqual(seen, [[]], 'the pre-install ran before any file reached its name');
  assert.equal(readFileSync(join(w.root, 'etc/staged.conf'), 'utf8'), 'x=1\n');
  assert.equal(statSync(join(w.root, 'etc')).mode & 0o7777, 0o750, 'an existing directory takes the tar metadata');
  const opt = statSync(join(w.root, 'opt/staged'));
  assert.equal(opt.mode & 0o7777, 0o2750);
  assert.equal(opt.gid, 7);
  assert.equal(opt.mtime.getTime(), 1600000000 * 1000, 'directory mtime set after its files were renamed in');
  assert.equal(statSync(join(w.root, 'opt/staged/hard')).ino, statSync(join(w.root, 'opt/staged/bin')).ino, 'the hardlink shares the committed file');
  assert.equal(readlinkSync(join(w.root, 'opt/staged/alias')), 'bin');
  const implied = statSync(join(w.root, 'usr/share/staged/deep'));
  assert.equal(implied.mode & 0o7777, 0o755, 'parents missing from the tar are root 0755');
  assert.equal(implied.uid, 0);
  assert.equal(tempNames(w.root), '');
});

test('a fatal pre-install failure takes back everything the package staged', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [staged]);
  mkdirSync(join(w.root, 'etc'), { recursive: true });
  chmodSync(join(w.root, 'etc'), 0o755);
  const { runner, seen } = observingRunner(1);
  const error = await install(w.root, w.shelf, infos, { runScript: runner, scriptsFatal: true }).then(
    () => assert.fail('installed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApkPackageError, String(error));
  assert.equal(error.code, 'ESCRIPT');
  assert.deepEqual(seen, [[]]);
  for (const p of finalNames) assert.ok(!present(join(w.root, p)), `/${p} was left behind`);
  assert.ok(!existsSync(join(w.root, 'opt')), 'a directory the package created was left behind');
  assert.ok(!existsSync(join(w.root, 'usr')), 'a parent the package created was left behind');
  assert.equal(statSync(join(w.root, 'etc')).mode & 0o7777, 0o755, "an existing directory's metadata changed");
  assert.equal(tempNames(w.root), '');
  assert.doesNotMatch(readFileSync(join(w.root, 'lib/apk/db/installed'), 'utf8'), /P:staged/);
});

test('a pre-install that swaps a parent for a symlink to outside gets the package refused, and nothing outside changes', async () => {
  const w = workspace();
  // opt/app/ comes before opt/ in the tar, so its metadata is applied first.
  const [swapped] = await shelve(w.shelf, [
    {
      name: 'swapped',
      version: '1.0-r0',
      scripts: { 'pre-install': '#!/bin/sh\n' },
      files: [
        { path: 'opt/app/', type: 'directory', mode: 0o700, uid: 5, gid: 5 },
        { path: 'opt/', type: 'directory' },
      ],
    },
  ]);
  mkdirSync(join(w.root, 'opt'), { recursive: true });
  mkdirSync(join(w.outside, 'app'), { recursive: true });
  chmodSync(join(w.outside, 'app'), 0o755);
  const runner: ScriptRunner = async (request) => {
    renameSync(join(request.root, 'opt'), join(request.root, 'opt.moved'));
    symlinkSync(w.outside, join(request.root, 'opt'));
    return { code: 0, output: '' };
  };
  const error = await install(w.root, w.shelf, [swapped!], { runScript: runner }).then(
    () => assert.fail('installed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApkPackageError, String(error));
  assert.equal(error.code, 'EUNSAFE');
  assert.match(error.message, /symlink \/opt/);
  const outside = statSync(join(w.outside, 'app'));
  assert.equal(outside.mode & 0o7777, 0o755, 'a directory outside the root was chmodded');
  assert.equal(outside.uid, 0, 'a directory outside the root was chowned');
});
