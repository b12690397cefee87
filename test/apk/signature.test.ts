import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createSign, generateKeyPairSync } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitGzipMembers } from '../../src/apk/gzip-members.js';
import { loadKeys } from '../../src/apk/keys.js';
import { parseSignatureFileName, readSignatureTar, SignedStreamVerifier, verifyDigest } from '../../src/apk/signature.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const REAL_APK = join(SHARED_ALPINE, 'real/v3.17/main/aarch64/alpine-baselayout-3.2.0-r23.apk');

test('signature file names: RSA (SHA-1), RSA256, RSA512; others ignored', () => {
  assert.deepEqual(parseSignatureFileName('.SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub'), {
    algorithm: 'sha1',
    keyName: 'alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub',
  });
  assert.deepEqual(parseSignatureFileName('.SIGN.RSA256.k.rsa.pub'), { algorithm: 'sha256', keyName: 'k.rsa.pub' });
  assert.equal(parseSignatureFileName('.SIGN.DSA.k'), undefined);
  assert.equal(parseSignatureFileName('.PKGINFO'), undefined);
  assert.equal(parseSignatureFileName('.SIGN.RSA.'), undefined);
});

test('verifyDigest checks PKCS#1 v1.5 over a precomputed SHA-1 or SHA-256 digest', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  for (const algorithm of ['sha1', 'sha256'] as const) {
    const data = Buffer.from(`signed with ${algorithm}`);
    const signature = createSign(algorithm).update(data).sign(privateKey);
    const digest = createHash(algorithm).update(data).digest();
    assert.equal(verifyDigest(publicKey, algorithm, digest, signature), true);
    assert.equal(verifyDigest(publicKey, algorithm, createHash(algorithm).update('other').digest(), signature), false);
    assert.equal(verifyDigest(publicKey, algorithm === 'sha1' ? 'sha256' : 'sha1', digest, signature), false);
  }
});

test('a real Alpine .apk: its control member verifies against Alpine keys while streaming', { skip: !existsSync(REAL_APK) && 'no shared data' }, async () => {
  const keys = loadKeys([join(SHARED_ALPINE, 'real/keys')]);
  const sigTar: Buffer[] = [];
  let verifier: SignedStreamVerifier | undefined;
  await splitGzipMembers(
    createReadStream(REAL_APK, { highWaterMark: 1000 }),
    {
      raw: (i, c) => {
        if (i === 1) verifier!.update(c);
      },
      data: (i, c) => {
        if (i === 0) sigTar.push(c);
      },
      end: (i) => {
        if (i === 0) verifier = new SignedStreamVerifier(REAL_APK, readSignatureTar(Buffer.concat(sigTar)), keys);
      },
    },
    REAL_APK,
  );
  assert.match(verifier!.verify().keyName, /^alpine-devel@lists\.alpinelinux\.org-.*\.rsa\.pub$/);
});

test('loadKeys keys by file basename, from files and directories, and names bad files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eib-keys-'));
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  writeFileSync(join(dir, 'a.rsa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'README'), 'not a key');
  const keys = loadKeys([dir, join(SHARED_ALPINE, 'keys/eib-test-0001.rsa.pub')].filter((p) => existsSync(p)));
  assert.ok(keys.has('a.rsa.pub'));
  assert.ok(!keys.has('README'));
  writeFileSync(join(dir, 'bad.pub'), 'garbage');
  assert.throws(() => loadKeys([dir]), { code: 'EKEY', message: /bad\.pub: not a PEM public key/ });
  assert.throws(() => loadKeys([join(dir, 'missing.pub')]), { code: 'EKEY', message: /missing\.pub: cannot read/ });
});
