import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALPINE_ARCHES } from '../../src/config/types.js';
import { canonicalJson } from '../../src/oci/canonical-json.js';
import { digestHex, isDigest, parseDigest } from '../../src/oci/digest.js';
import { buildImageConfig, buildManifest, stageLayers } from '../../src/oci/image.js';
import { ociPlatform } from '../../src/oci/platform.js';

const HEX = 'a'.repeat(64);

test('digests: sha256 with 64 lowercase hex is accepted, everything else is EDIGEST', () => {
  assert.deepEqual(parseDigest(`sha256:${HEX}`), { algorithm: 'sha256', hex: HEX });
  assert.equal(digestHex(`sha256:${HEX}`), HEX);
  for (const bad of [HEX, `sha256:${HEX.slice(1)}`, `sha256:${HEX.toUpperCase()}`, `sha512:${HEX}${HEX}`, `sha256:${HEX}/../x`, '']) {
    assert.equal(isDigest(bad), false, bad);
    assert.throws(() => parseDigest(bad), { code: 'EDIGEST' });
  }
});

test('every Alpine arch maps to the OCI platform runtimes match on', () => {
  const table = Object.fromEntries(ALPINE_ARCHES.map((a) => [a, ociPlatform(a)]));
  assert.deepEqual(table, {
    aarch64: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    armv7: { architecture: 'arm', os: 'linux', variant: 'v7' },
    armhf: { architecture: 'arm', os: 'linux', variant: 'v6' },
    x86: { architecture: '386', os: 'linux' },
    x86_64: { architecture: 'amd64', os: 'linux' },
    riscv64: { architecture: 'riscv64', os: 'linux' },
    ppc64le: { architecture: 'ppc64le', os: 'linux' },
    s390x: { architecture: 's390x', os: 'linux' },
    loongarch64: { architecture: 'loong64', os: 'linux' },
  });
});

test('canonical JSON sorts keys at every depth and drops undefined members', () => {
  assert.equal(canonicalJson({ z: 1, a: [{ y: 2, b: undefined, x: 'é' }] }), '{"a":[{"x":"é","y":2}],"z":1}');
  assert.equal(canonicalJson({ b: 1, a: 2 }), canonicalJson({ a: 2, b: 1 }));
});

test('image config: one history entry per stage, empty_layer for stages that changed nothing', () => {
  const layer = { descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${HEX}` as const, size: 10 }, diffId: `sha256:${'b'.repeat(64)}` as const };
  const stages = [
    { name: 'base', createdBy: 'eib: packages busybox', created: '2024-01-01T00:00:00Z', layer },
    { name: 'noop', createdBy: 'eib: run true', created: '2024-01-01T00:00:00Z', layer: null },
  ];
  const config = buildImageConfig({ arch: 'aarch64', stages });
  assert.deepEqual(config, {
    architecture: 'arm64',
    os: 'linux',
    variant: 'v8',
    created: '2024-01-01T00:00:00Z',
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [
      { created: '2024-01-01T00:00:00Z', created_by: 'eib: packages busybox', comment: 'eib stage base' },
      { created: '2024-01-01T00:00:00Z', created_by: 'eib: run true', comment: 'eib stage noop', empty_layer: true },
    ],
  });
  const layers = stageLayers(stages);
  assert.equal(layers.length, 1);
  assert.equal(layers[0]?.annotations?.['dev.eib.stage'], 'base');
  const manifest = buildManifest({ mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 5 }, layers);
  assert.equal(manifest.schemaVersion, 2);
  assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(manifest.annotations, undefined);
});
