import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { formatReference, isLocalRegistry, parseReference } from '../../src/remote/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

test('host:port references keep the host, default the tag to latest', () => {
  assert.deepEqual(parseReference('localhost:5000/team/rootfs'), { registry: 'localhost:5000', repository: 'team/rootfs', tag: 'latest' });
  assert.deepEqual(parseReference('registry.example.com/a:v1.2'), { registry: 'registry.example.com', repository: 'a', tag: 'v1.2' });
  assert.deepEqual(parseReference('127.0.0.1:5000/x@' + D), { registry: '127.0.0.1:5000', repository: 'x', digest: D });
  assert.deepEqual(parseReference('[::1]:5000/x:t@' + D), { registry: '[::1]:5000', repository: 'x', tag: 't', digest: D });
  assert.deepEqual(parseReference('localhost/x'), { registry: 'localhost', repository: 'x', tag: 'latest' });
});

test('names without a host are on Docker Hub, one-component names under library/', () => {
  assert.deepEqual(parseReference('alpine:3.20'), { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' });
  assert.deepEqual(parseReference('team/rootfs'), { registry: 'docker.io', repository: 'team/rootfs', tag: 'latest' });
});

test('formatReference round-trips', () => {
  for (const s of ['localhost:5000/a/b:c', `host.io/a@${D}`, `host.io/a:t@${D}`]) assert.equal(formatReference(parseReference(s)), s);
});

test('invalid references are usage errors (exit 2) that name the input', () => {
  for (const bad of ['', 'Localhost:5000/UPPER', 'host.io/a:', 'host.io/a@sha256:abc', 'host.io//a', 'host.io/a:-bad', 'bad_host:99999/a']) {
    assert.throws(
      () => parseReference(bad),
      (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message.includes(`"${bad}"`),
      bad,
    );
  }
});

test('only localhost, 127.0.0.1 and ::1 are local', () => {
  assert.equal(isLocalRegistry('localhost:5000'), true);
  assert.equal(isLocalRegistry('127.0.0.1:1'), true);
  assert.equal(isLocalRegistry('[::1]:5000'), true);
  assert.equal(isLocalRegistry('127.0.0.2:5000'), false);
  assert.equal(isLocalRegistry('registry.local'), false);
});
