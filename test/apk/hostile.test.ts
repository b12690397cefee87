/**
 * Hostile packages (node-tar's advisories, apk's own CVE history) are
 * refused before anything of them is written, name the package and the
 * reason, and leave every canary outside the root untouched.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApkPackageError } from '../../src/apk/package-error.js';
import type { BuildFile } from '../helpers/apk-builder.js';
import { install, shelve, workspace } from './install-fixtures.js';

interface Scene {
  root: string;
  outside: string;
  shelf: string;
  canary: string;
}

function scene(): Scene {
  const w = workspace();
  mkdirSync(w.root, { recursive: true });
  mkdirSync(w.outside, { recursive: true });
  const canary = join(w.outside, 'canary');
  writeFileSync(canary, 'untouched\n');
  return { ...w, canary };
}

function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    out.push(prefix + name);
    const st = lstatSync(path);
    if (st.isDirectory()) out.push(...listTree(path, `${prefix}${name}/`));
  }
  return out;
}

/** Installs `files` as package "evil" after the root holds `before`; expects EUNSAFE and no trace. */
async function expectRefused(s: Scene, files: BuildFile[], reason: RegExp, code = 'EUNSAFE'): Promise<void> {
  const [evil] = await shelve(s.shelf, [{ name: 'evil', version: '1.0-r0', files: [{ path: 'etc/', type: 'directory' }, { path: 'etc/marker', content: 'evil was here\n' }, ...files] }]);
  const rootBefore = listTree(s.root);
  const outsideBefore = listTree(s.outside);
  const error = await install(s.root, s.shelf, [evil!]).then(
    () => assert.fail('the hostile package was installed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApkPackageError, String(error));
  assert.equal(error.code, code, error.message);
  assert.equal(error.package, 'evil-1.0-r0');
  assert.match(error.message, reason);
  assert.equal(readFileSync(s.canary, 'utf8'), 'untouched\n');
  assert.deepEqual(listTree(s.outside), outsideBefore);
  // Nothing of the package, only the (empty) database eib always writes.
  const added = listTree(s.root).filter((p) => !rootBefore.includes(p));
  assert.ok(!added.includes('etc/marker'), 'a file of the refused package was written');
  assert.ok(added.every((p) => /^(etc|etc\/apk.*|lib|lib\/apk.*|var|var\/cache.*)$/.test(p)), `unexpected: ${added.join(', ')}`);
  const installed = readFileSync(join(s.root, 'lib/apk/db/installed'), 'utf8');
  assert.doesNotMatch(installed, /P:evil/);
}

test('a path with .. is refused (tar path traversal)', async () => {
  const s = scene();
  await expectRefused(s, [{ path: '../outside/canary', content: 'pwned\n' }], /outside the root/);
});

test('an absolute path is refused', async () => {
  const s = scene();
  await expectRefused(s, [{ path: s.canary, content: 'pwned\n' }], /outside the root/);
});

test('a symlink to outside, then a file written through it in the same package, is refused', async () => {
  const s = scene();
  await expectRefused(
    s,
    [
      { path: 'escape', type: 'symlink', linkTarget: s.outside },
      { path: 'escape/canary', content: 'pwned\n' },
    ],
    /through \/escape/,
  );
  assert.throws(() => lstatSync(join(s.root, 'escape')));
});

test('a relative symlink climbing out, then a file through it, is refused', async () => {
  const s = scene();
  await expectRefused(
    s,
    [
      { path: 'etc/up', type: 'symlink', linkTarget: '../../outside' },
      { path: 'etc/up/canary', content: 'pwned\n' },
    ],
    /through \/etc\/up/,
  );
});

test('a symlink placed by an earlier package is never followed by a later one', async () => {
  const s = scene();
  const [first, second] = await shelve(s.shelf, [
    { name: 'first', version: '1.0-r0', files: [{ path: 'escape', type: 'symlink', linkTarget: s.outside }] },
    { name: 'evil', version: '1.0-r0', files: [{ path: 'escape/canary', content: 'pwned\n' }] },
  ]);
  const error = await install(s.root, s.shelf, [first!, second!]).then(
    () => assert.fail('installed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApkPackageError);
  assert.equal(error.code, 'EUNSAFE');
  assert.equal(error.package, 'evil-1.0-r0');
  assert.equal(readFileSync(s.canary, 'utf8'), 'untouched\n');
  // The first package is installed and recorded; the second is not.
  const installed = readFileSync(join(s.root, 'lib/apk/db/installed'), 'utf8');
  assert.match(installed, /P:first/);
  assert.doesNotMatch(installed, /P:evil/);
});

test('a symlink already in the lower layers is never followed', async () => {
  const s = scene();
  symlinkSync(s.outside, join(s.root, 'lower-link'));
  await expectRefused(s, [{ path: 'lower-link/canary', content: 'pwned\n' }], /through the symlink \/lower-link/);
});

test('a directory entry over an existing symlink is refused (chmod would follow it)', async () => {
  const s = scene();
  symlinkSync(s.outside, join(s.root, 'lower-link'));
  await expectRefused(s, [{ path: 'lower-link/', type: 'directory', mode: 0o777 }], /exists in the root as a symlink/);
  assert.equal(lstatSync(s.outside).mode & 0o777, 0o755);
});

test('a hardlink to a path outside the root is refused', async () => {
  const s = scene();
  await expectRefused(s, [{ path: 'etc/hard', type: 'hardlink', linkTarget: '../outside/canary' }], /outside the root/);
});

test('a hardlink to an absolute host path is refused', async () => {
  const s = scene();
  await expectRefused(s, [{ path: 'etc/hard', type: 'hardlink', linkTarget: s.canary }], /outside the root/);
});

test('a hardlink to a root file the package did not ship is refused', async () => {
  const s = scene();
  mkdirSync(join(s.root, 'etc'));
  writeFileSync(join(s.root, 'etc/shadow'), 'secret\n');
  await expectRefused(s, [{ path: 'etc/hard', type: 'hardlink', linkTarget: 'etc/shadow' }], /not a file shipped earlier/);
});

test('a hardlink through a symlinked directory is refused', async () => {
  const s = scene();
  await expectRefused(
    s,
    [
      { path: 'escape', type: 'symlink', linkTarget: s.outside },
      { path: 'etc/hard', type: 'hardlink', linkTarget: 'escape/canary' },
    ],
    /not a file shipped earlier/,
  );
});

test('device nodes are refused', async () => {
  const s = scene();
  await expectRefused(s, [{ path: 'etc/mem', type: 'char-device', devmajor: 1, devminor: 1 }], /character-device/);
});

test('a file replacing a directory of the root is refused', async () => {
  const s = scene();
  mkdirSync(join(s.root, 'usr'));
  await expectRefused(s, [{ path: 'usr', content: 'not a dir\n' }], /replace a directory/);
});

for (const [what, build, code] of [
  ['a wrong datahash', { hostile: { datahash: 'f'.repeat(64) } }, 'EINTEGRITY'],
  ['a file failing its checksum after good ones', { files: [{ path: 'etc/late', content: 'x', checksum: '0'.repeat(40) }] }, 'EINTEGRITY'],
  ['a decompression bomb', { installedSize: 4096, files: [{ path: 'etc/bomb', zeros: 48 * 1024 * 1024 }] }, 'ETOOLARGE'],
] as const) {
  test(`${what} is refused by installPackages with nothing of the package written`, async () => {
    const s = scene();
    const [evil] = await shelve(s.shelf, [
      { name: 'evil', version: '1.0-r0', ...build, files: [{ path: 'etc/', type: 'directory' }, { path: 'etc/marker', content: 'evil was here\n' }, ...('files' in build ? build.files : [])] },
    ]);
    const error = await install(s.root, s.shelf, [evil!]).then(
      () => assert.fail('installed'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ApkPackageError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.package, 'evil-1.0-r0');
    assert.ok(!listTree(s.root).includes('etc/marker'));
    assert.equal(readFileSync(s.canary, 'utf8'), 'untouched\n');
  });
}

test('a truncated package is refused by installPackages with nothing written', async () => {
  const s = scene();
  const [evil] = await shelve(s.shelf, [{ name: 'evil', version: '1.0-r0', hostile: { truncate: 100 }, files: [{ path: 'etc/', type: 'directory' }, { path: 'etc/marker', content: 'evil was here\n'.repeat(200) }] }]);
  const error = await install(s.root, s.shelf, [{ ...evil!, size: 0 }]).then(
    () => assert.fail('installed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApkPackageError, String(error));
  assert.equal(error.code, 'ETRUNCATED', error.message);
  assert.ok(!listTree(s.root).includes('etc/marker'));
});
