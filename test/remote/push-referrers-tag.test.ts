/** The fallback tag name and the listed descriptor, against the distribution-spec v1.1 rules and examples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referrerDescriptor, referrersTag } from '../../src/remote/referrers.js';
import type { Digest } from '../../src/oci/types.js';
import { IntegrityError } from '../../src/errors.js';

test('referrersTag follows the spec examples: truncation to 32 and 64 characters, non-tag characters as "-"', () => {
  assert.equal(referrersTag(`sha256:${'a'.repeat(64)}`), `sha256-${'a'.repeat(64)}`);
  assert.equal(referrersTag(`sha512:${'a'.repeat(128)}`), `sha512-${'a'.repeat(64)}`);
  assert.equal(
    referrersTag('test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation' as Digest),
    'test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot',
  );
});

const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 10 };
const config = { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 };

test('referrerDescriptor carries artifactType and every annotation; without artifactType, the config media type', () => {
  const withType = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/spdx+json', config, layers: [], subject, annotations: { a: '1', b: '2' } }));
  assert.deepEqual(referrerDescriptor(withType, 'sha256:d' as Digest), {
    subject: subject.digest,
    descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:d', size: withType.length, artifactType: 'application/spdx+json', annotations: { a: '1', b: '2' } },
  });
  const untyped = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { ...config, mediaType: 'application/vnd.example.sig' }, layers: [], subject }));
  assert.equal(referrerDescriptor(untyped, 'sha256:e' as Digest).descriptor.artifactType, 'application/vnd.example.sig');
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [], subject }));
  assert.equal('artifactType' in referrerDescriptor(index, 'sha256:f' as Digest).descriptor, false, 'an index without artifactType has none');
});

test('referrerDescriptor refuses a manifest without a subject', () => {
  const plain = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [] }));
  assert.throws(() => referrerDescriptor(plain, 'sha256:g' as Digest), (e: unknown) => e instanceof IntegrityError && /has no subject/.test(e.message));
});
