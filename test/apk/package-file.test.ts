/**
 * Reading .apk files: the real signed repository verifies, and every way a
 * package can lie is refused with the package named and the reason coded.
 */
import assert from 'node:assert/strict';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createReadStream } from 'node:fs';
import { readApkIndex } from '../../src/apk/index-file.js';
import { ApkPackageError } from '../../src/apk/package-error.js';
import { readApk, type ApkDataEntry } from '../../src/apk/package-file.js';
import type { PackageInfo } from '../../src/apk/types.js';
import { buildApk, generateSigningKey, trustedKeys, type BuildPackage } from '../helpers/apk-builder.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const REPO = join(SHARED_ALPINE, 'repo', 'v3.20', 'main');
const KEY = join(SHARED_ALPINE, 'keys', 'eib-test-0001.rsa.pub');
const key = generateSigningKey('eib-unit.rsa.pub');
const keys = trustedKeys(key);

async function read(path: string, expected: PackageInfo, trusted: ReadonlyMap<string, KeyObject> = keys, allowUntrusted = false) {
  const file = await open(path);
  const entries: ApkDataEntry[] = [];
  try {
    const result = await readApk(file, { expected, keys: trusted, allowUntrusted, onEntry: async (e) => void entries.push(e) });
    return { ...result, entries };
  } finally {
    await file.close();
  }
}

async function built(pkg: Partial<BuildPackage> & { files?: BuildPackage['files'] }, signer = key) {
  const dir = mkdtempSync(join(tmpdir(), 'eib-apk-'));
  const info = await buildApk(dir, { name: 'demo', version: '1.0-r0', files: [{ path: 'etc/', type: 'directory' }, { path: 'etc/demo.conf', content: 'x=1\n' }], ...pkg }, signer);
  return { path: join(dir, `${info.name}-${info.version}.apk`), info };
}

async function refused(promise: Promise<unknown>, code: string, pkg = 'demo-1.0-r0'): Promise<ApkPackageError> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApkPackageError, `not an ApkPackageError: ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.equal(error.package, pkg);
  assert.match(error.message, new RegExp(`^${pkg}: `));
  return error;
}

test('every package of the shared signed repository verifies against its index', { skip: !existsSync(REPO) }, async () => {
  const trusted = new Map([['eib-test-0001.rsa.pub', createPublicKey(readFileSync(KEY))]]);
  const index = await readApkIndex(createReadStream(join(REPO, 'aarch64', 'APKINDEX.tar.gz')), { what: 'APKINDEX', repository: REPO, keys: trusted });
  assert.equal(index.packages.length, 14);
  for (const pkg of index.packages) {
    const r = await read(join(REPO, 'aarch64', `${pkg.name}-${pkg.version}.apk`), pkg, trusted);
    assert.equal(r.checksum, pkg.checksum);
    assert.equal(r.control.signedBy, 'eib-test-0001.rsa.pub');
    if (pkg.name === 'busybox') {
      assert.deepEqual(r.control.triggers, ['/bin', '/usr/bin', '/sbin', '/usr/sbin', '/lib/modules/*']);
      assert.ok(r.control.scripts.has('post-install'));
      const bin = r.entries.find((e) => e.path === 'bin/busybox');
      assert.equal(bin?.mode, 0o755);
    }
  }
});

test('a built package reads back with its control data and entries', async () => {
  const { path, info } = await built({
    scripts: { 'post-install': '#!/bin/sh\necho hi\n' },
    triggers: ['/usr/share/demo/*'],
    replacesPriority: 10,
    files: [
      { path: 'usr/', type: 'directory' },
      { path: 'usr/bin/', type: 'directory' },
      { path: 'usr/bin/demo', content: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 42 },
      { path: 'usr/bin/demo-link', type: 'symlink', linkTarget: 'demo' },
      { path: 'usr/bin/demo-hard', type: 'hardlink', linkTarget: 'usr/bin/demo' },
    ],
  });
  const r = await read(path, info);
  assert.equal(r.checksum, info.checksum);
  assert.equal(r.control.pkginfo.get('replaces_priority')?.[0], '10');
  assert.deepEqual(r.control.triggers, ['/usr/share/demo/*']);
  assert.equal(r.control.scripts.get('post-install')?.toString(), '#!/bin/sh\necho hi\n');
  assert.deepEqual(
    r.entries.map((e) => [e.path, e.type, e.mode, e.gid, e.linkTarget ?? null]),
    [
      ['usr', 'directory', 0o755, 0, null],
      ['usr/bin', 'directory', 0o755, 0, null],
      ['usr/bin/demo', 'file', 0o4755, 42, null],
      ['usr/bin/demo-link', 'symlink', 0o777, 0, 'demo'],
      ['usr/bin/demo-hard', 'hardlink', 0o644, 0, 'usr/bin/demo'],
    ],
  );
});

test('a package signed by an unknown key, or unsigned, is refused unless untrusted is allowed', async () => {
  const other = generateSigningKey('stranger.rsa.pub');
  const signedByStranger = await built({}, other);
  await refused(read(signedByStranger.path, signedByStranger.info), 'ESIGNATURE');
  const unsigned = await built({ hostile: { unsigned: true } });
  await refused(read(unsigned.path, unsigned.info), 'ESIGNATURE');
  const r = await read(unsigned.path, unsigned.info, keys, true);
  assert.equal(r.control.signedBy, undefined);
});

test('a signature by a trusted key name over different bytes is refused', async () => {
  const forged = generateSigningKey(key.name); // same name, different key
  const pkg = await built({}, forged);
  const error = await refused(read(pkg.path, pkg.info), 'ESIGNATURE');
  assert.match(error.message, /does not verify/);
});

test("a control member that differs from the index's C: is refused", async () => {
  const { path, info } = await built({});
  await refused(read(path, { ...info, checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }), 'EINTEGRITY');
});

test('a wrong .PKGINFO datahash is refused', async () => {
  const { path, info } = await built({ hostile: { datahash: '0'.repeat(64) } });
  const error = await refused(read(path, info), 'EINTEGRITY');
  assert.match(error.message, /data member/);
});

test('a file whose content does not match its checksum record is refused', async () => {
  const { path, info } = await built({ files: [{ path: 'etc/demo.conf', content: 'x=1\n', checksum: 'a'.repeat(40) }] });
  const error = await refused(read(path, info), 'EINTEGRITY');
  assert.match(error.message, /etc\/demo\.conf/);
});

test('a regular file without a checksum record is refused', async () => {
  const { path, info } = await built({ files: [{ path: 'etc/demo.conf', content: 'x=1\n', checksum: null }] });
  await refused(read(path, info), 'EINTEGRITY');
});

test('a truncated package is refused', async () => {
  const { path, info } = await built({ hostile: { truncate: 40 } });
  await refused(read(path, { ...info, size: 0 }), 'ETRUNCATED');
});

test('a .apk whose size differs from the index S: is refused before reading', async () => {
  const { path, info } = await built({});
  await refused(read(path, { ...info, size: info.size + 1 }), 'EBADSIZE');
});

test('a decompression bomb is refused once it inflates past the installed size bound', async () => {
  const { path, info } = await built({ installedSize: 4096, files: [{ path: 'bomb', zeros: 64 * 1024 * 1024 }] });
  assert.ok(info.size < 200 * 1024, `bomb is ${info.size} bytes compressed`);
  const error = await refused(read(path, info), 'ETOOLARGE');
  assert.match(error.message, /decompression bomb/);
});

test('a tar header whose size lies is refused', async () => {
  const { path, info } = await built({ files: [{ path: 'etc/a', content: 'short', declaredSize: 4096 }] });
  const error = await read(path, info).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApkPackageError);
  assert.ok(['EBADAPK', 'EINTEGRITY', 'ETRUNCATED'].includes(error.code), error.message);
});
