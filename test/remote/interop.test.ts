/**
 * eib and other registry clients against the real distribution server:
 * basic auth over TLS, images skopeo pushed (OCI and Docker schema 2) pulled
 * by eib, and a push cut off by a registry crash, re-run after a restart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../../src/oci/types.js';
import { layoutSource } from '../../src/remote/image-source.js';
import { pullImage, pushImage, type TransferProgress } from '../../src/remote/push.js';
import { parseReference } from '../../src/remote/reference.js';
import { makeCa, startRegistry, tempDir, type TestCa } from '../helpers/registry.js';
import { buildImage, type FixtureImage } from './fixture.js';

let image: FixtureImage;
let ca: TestCa;
const cleanup: string[] = [];
const anonymous = { credential: async () => undefined, retryDelayMs: 20 };

before(async () => {
  const dir = tempDir('eib-interop-');
  cleanup.push(dir);
  image = await buildImage(dir, { tag: 'v1' });
  ca = makeCa();
  cleanup.push(ca.dir);
});

after(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
}

function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

test('basic auth over TLS: eib pushes with credentials and the extra CA; skopeo reads the same manifest', async () => {
  const password = 'correct horse battery staple';
  const registry = await startRegistry({ users: { alice: password }, tls: ca });
  try {
    const ref = parseReference(`${registry.host}/secure/rootfs:v1`);
    const credential = async () => ({ username: 'alice', secret: password, identityToken: false, source: 'test' });
    const r = await pushImage(layoutSource(image.dir, 'v1'), ref, { credential, ca: ca.caFile, retryDelayMs: 20 });
    assert.equal(r.digest, image.manifest.digest);
    // skopeo wants a folder of *.crt CA files only.
    const certDir = tempDir('eib-certs-');
    cleanup.push(certDir);
    copyFileSync(ca.caFile, join(certDir, 'ca.crt'));
    const raw = skopeo(['inspect', '--raw', '--creds', `alice:${password}`, '--cert-dir', certDir, `docker://${registry.host}/secure/rootfs:v1`]);
    assert.equal(sha256(raw), image.manifest.digest);
    // Without credentials the registry refuses, over the same TLS.
    await assert.rejects(pushImage(layoutSource(image.dir, 'v1'), ref, { ...anonymous, ca: ca.caFile }), /EAUTH|log in|credentials/i);
  } finally {
    await registry.stop();
  }
});

test('eib pulls what skopeo pushed: an OCI image made by umoci, and a Docker schema 2 conversion', async () => {
  const registry = await startRegistry();
  try {
    // An image no eib code wrote: umoci builds it from the Alpine-like tree of a tar.
    const layout = join(tempDir('eib-umoci-'), 'layout');
    cleanup.push(join(layout, '..'));
    execFileSync('umoci', ['init', '--layout', layout]);
    execFileSync('umoci', ['new', '--image', `${layout}:base`]);
    const bundle = join(tempDir('eib-bundle-'), 'b');
    cleanup.push(join(bundle, '..'));
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle]);
    execFileSync('sh', ['-c', `mkdir -p "${bundle}/rootfs/etc" && echo umoci-made > "${bundle}/rootfs/etc/hostname"`]);
    execFileSync('umoci', ['repack', '--image', `${layout}:base`, bundle]);

    skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:base`, `docker://${registry.host}/skopeo/oci:v1`]);
    skopeo(['copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:base`, `docker://${registry.host}/skopeo/docker:v1`]);

    for (const name of ['oci', 'docker']) {
      const remote = sha256(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/skopeo/${name}:v1`]));
      const dir = tempDir('eib-pulled-');
      cleanup.push(dir);
      const r = await pullImage(parseReference(`${registry.host}/skopeo/${name}:v1`), dir, anonymous);
      assert.equal(r.digest, remote, `${name}: eib kept the manifest skopeo pushed`);
      // An independent reader of what eib wrote agrees, and the content is there.
      const index = readFileSync(join(dir, 'index.json'), 'utf8');
      assert.match(index, /"org\.opencontainers\.image\.ref\.name":"v1"/, `${name}: tagged v1 in ${index}`);
      // Every blob the manifest names is in the layout, byte for byte what its digest says.
      const manifest = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', remote.slice(7)), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
      for (const d of [manifest.config, ...manifest.layers]) assert.equal(sha256(readFileSync(join(dir, 'blobs', 'sha256', d.digest.slice(7)))), d.digest);
      if (name === 'docker') continue; // skopeo's and umoci's layout readers take OCI manifests only
      // Independent readers of what eib wrote agree, and the content is there.
      const inspected = JSON.parse(skopeo(['inspect', `oci:${dir}:v1`])) as { Digest: string };
      assert.equal(inspected.Digest, remote);
      const unpacked = join(tempDir('eib-unpacked-'), 'u');
      cleanup.push(join(unpacked, '..'));
      execFileSync('umoci', ['unpack', '--rootless', '--image', `${dir}:v1`, unpacked]);
      assert.equal(readFileSync(join(unpacked, 'rootfs', 'etc', 'hostname'), 'utf8'), 'umoci-made\n');
    }
  } finally {
    await registry.stop();
  }
});

test('a push cut off by a registry crash completes after a restart, sending only the missing blobs', async () => {
  const first = await startRegistry();
  let second: Awaited<ReturnType<typeof startRegistry>> | undefined;
  try {
    const ref = parseReference(`${first.host}/crash/rootfs:v1`);
    const sentBeforeCrash: Digest[] = [];
    await assert.rejects(
      pushImage(layoutSource(image.dir, 'v1'), ref, {
        ...anonymous,
        maxAttempts: 2,
        concurrency: 1,
        onProgress: (e: TransferProgress) => {
          if (e.state !== 'uploaded') return;
          sentBeforeCrash.push(e.digest);
          first.halt();
        },
      }),
    );
    assert.equal(sentBeforeCrash.length, 1, 'one blob landed before the crash');

    second = await startRegistry({ storage: first.storage, port: first.port });
    const events: TransferProgress[] = [];
    const r = await pushImage(layoutSource(image.dir, 'v1'), ref, { ...anonymous, onProgress: (e) => events.push(e) });
    assert.equal(r.digest, image.manifest.digest);
    const uploaded = new Set(events.filter((e) => e.state === 'uploaded').map((e) => e.digest));
    const present = new Set(events.filter((e) => e.state === 'exists').map((e) => e.digest));
    assert.ok(present.has(sentBeforeCrash[0]!), 'the blob sent before the crash is not sent again');
    assert.ok(!uploaded.has(sentBeforeCrash[0]!));
    assert.equal(uploaded.size + present.size, 1 + image.layers.length, 'every blob is accounted for');
    const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${second.host}/crash/rootfs:v1`]);
    assert.equal(sha256(raw), image.manifest.digest);
  } finally {
    await second?.stop();
    await first.stop();
  }
});
