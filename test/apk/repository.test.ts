import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeys } from '../../src/apk/keys.js';
import { fetchPackage, openRepository } from '../../src/apk/repository.js';
import { sharedGet } from '../../src/remote/shared-get.js';
import { serveStatic, type StaticServer } from '../helpers/static-server.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const REPO_ROOT = join(SHARED_ALPINE, 'repo');
const skip = !existsSync(REPO_ROOT) && 'no shared Alpine data';
const keys = (): ReturnType<typeof loadKeys> => loadKeys([join(SHARED_ALPINE, 'keys/eib-test-0001.rsa.pub')]);

let server: StaticServer | undefined;
after(async () => server?.close());

test('an http repository: downloaded and verified, then revalidated with 304, then usable offline', { skip }, async () => {
  server = await serveStatic(REPO_ROOT);
  const cacheDir = mkdtempSync(join(tmpdir(), 'eib-repo-cache-'));
  const url = `${server.url}/v3.20/main`;
  const progress: number[] = [];
  const first = await openRepository({ url, arch: 'aarch64', keys: keys(), cacheDir, http: sharedGet, onProgress: (p) => progress.push(p.received) });
  assert.equal(first.packages.length, 14);
  assert.equal(first.signedBy, 'eib-test-0001.rsa.pub');
  assert.ok(first.packages.every((p) => p.repository === url && p.arch === 'aarch64'));
  assert.deepEqual(server.log, ['200 /v3.20/main/aarch64/APKINDEX.tar.gz']);
  assert.equal(progress.at(-1), statSync(join(REPO_ROOT, 'v3.20/main/aarch64/APKINDEX.tar.gz')).size);

  const second = await openRepository({ url, arch: 'aarch64', keys: keys(), cacheDir, http: sharedGet });
  assert.equal(second.packages.length, 14);
  assert.deepEqual(server.log.slice(1), ['304 /v3.20/main/aarch64/APKINDEX.tar.gz']);

  const offline = await openRepository({ url, arch: 'aarch64', keys: keys(), cacheDir, offline: true });
  assert.equal(offline.packages.length, 14);
  assert.equal(server.log.length, 2, 'offline mode made no request');

  // Packages: fetched once over http, kept by checksum, written whole.
  const busybox = first.packages.find((p) => p.name === 'busybox')!;
  const path = await fetchPackage(first, busybox, { cacheDir, http: sharedGet });
  assert.ok(path.startsWith(join(cacheDir, 'apk', 'packages')));
  assert.ok(path.includes(Buffer.from(busybox.checksum.slice(2), 'base64').toString('hex')));
  assert.deepEqual(readFileSync(path), readFileSync(join(REPO_ROOT, 'v3.20/main/aarch64/busybox-1.36.1-r29.apk')));
  assert.equal(await fetchPackage(first, busybox, { cacheDir, http: sharedGet }), path);
  assert.equal(server.log.filter((l) => l.includes('busybox-1.36.1-r29.apk')).length, 1, 'cached the second time');
});

test('offline without a cached index, and a missing index, fail with the URL in the message', { skip }, async () => {
  server ??= await serveStatic(REPO_ROOT);
  const cacheDir = mkdtempSync(join(tmpdir(), 'eib-repo-cache-'));
  const url = `${server.url}/v3.20/main`;
  await assert.rejects(openRepository({ url, arch: 'x86_64', keys: keys(), cacheDir, offline: true }), {
    code: 'EREPO',
    message: new RegExp(`${url}/x86_64/APKINDEX\\.tar\\.gz: not in the cache and offline mode`),
  });
  await assert.rejects(openRepository({ url, arch: 'riscv64', keys: keys(), cacheDir, http: sharedGet }), {
    code: 'EFETCH',
    status: 404,
    message: new RegExp(`GET ${url}/riscv64/APKINDEX\\.tar\\.gz: HTTP 404`),
  });
  // An untrusted index over http is refused before it reaches the cache.
  await assert.rejects(openRepository({ url, arch: 'x86_64', keys: new Map(), cacheDir, http: sharedGet }), { code: 'ESIGNATURE' });
  await assert.rejects(openRepository({ url, arch: 'x86_64', keys: keys(), cacheDir, offline: true }), { code: 'EREPO' });
});

test('a local path repository; package copied into the cache; size mismatch refused', { skip }, async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'eib-repo-cache-'));
  const repo = await openRepository({ url: join(REPO_ROOT, 'v3.20/main'), arch: 'x86_64', keys: keys(), cacheDir });
  assert.equal(repo.description, 'eib test repository (repacked Alpine minirootfs)');
  const zlib = repo.packages.find((p) => p.name === 'zlib')!;
  const path = await fetchPackage(repo, zlib, { cacheDir });
  assert.equal(statSync(path).size, zlib.size);
  await assert.rejects(fetchPackage(repo, { ...zlib, size: zlib.size + 1, checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }, { cacheDir }), {
    code: 'EBADSIZE',
    message: /zlib-1\.3\.1-r1\.apk: \d+ bytes, but the index says/,
  });
  await assert.rejects(openRepository({ url: join(REPO_ROOT, 'v3.20/main'), arch: 'armv7', keys: keys(), cacheDir }), {
    message: /armv7\/APKINDEX\.tar\.gz: cannot read the index/,
  });
});
