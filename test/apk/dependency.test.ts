import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDependency, parseDependency, satisfies } from '../../src/apk/dependency.js';

test('parseDependency reads every atom form apk writes', () => {
  assert.deepEqual(parseDependency('busybox'), { name: 'busybox', conflict: false });
  assert.deepEqual(parseDependency('!busybox'), { name: 'busybox', conflict: true });
  for (const op of ['=', '<', '<=', '>', '>=', '~'] as const) {
    assert.deepEqual(parseDependency(`musl${op}1.2.5-r0`), { name: 'musl', conflict: false, op, version: '1.2.5-r0' });
  }
  assert.deepEqual(parseDependency('zlib><Q1abcdefghijklmnopqrstuvwxyz0='), { name: 'zlib', conflict: false, op: '><', version: 'Q1abcdefghijklmnopqrstuvwxyz0=' });
  assert.deepEqual(parseDependency('so:libc.musl-aarch64.so.1'), { name: 'so:libc.musl-aarch64.so.1', conflict: false });
  assert.deepEqual(parseDependency('cmd:sh=1.36.1-r29'), { name: 'cmd:sh', conflict: false, op: '=', version: '1.36.1-r29' });
  assert.deepEqual(parseDependency('/bin/sh'), { name: '/bin/sh', conflict: false });
  assert.deepEqual(parseDependency('openssh@edge>9'), { name: 'openssh', conflict: false, op: '>', version: '9', tag: 'edge' });
  for (const text of ['openssh>=9.1_p1-r3', '!foo<2', 'pc:zlib=1.3.1', 'bar@t']) assert.equal(formatDependency(parseDependency(text)), text);
});

test('parseDependency refuses malformed atoms, naming them', () => {
  assert.throws(() => parseDependency('foo=>1'), { code: 'EDEPENDENCY', message: /foo=>1.*unknown operator/ });
  assert.throws(() => parseDependency('foo>='), { code: 'EDEPENDENCY', message: /needs a version/ });
  assert.throws(() => parseDependency('foo=1.0~x'), { code: 'EDEPENDENCY', message: /not a valid apk version/ });
  assert.throws(() => parseDependency('=1'), { code: 'EDEPENDENCY', message: /package name/ });
});

test('satisfies follows apk_dep_is_provided', () => {
  const d = parseDependency;
  assert.equal(satisfies(d('musl'), 'musl', '1.2.5-r0'), true);
  assert.equal(satisfies(d('musl'), 'zlib', '1.2.5-r0'), false);
  assert.equal(satisfies(d('musl>=1.2.5'), 'musl', '1.2.5-r0'), true);
  assert.equal(satisfies(d('musl<1.2.5'), 'musl', '1.2.5-r0'), false);
  assert.equal(satisfies(d('musl>1.2.5'), 'musl', '1.2.5-r0'), true, '-r0 is after the bare version');
  assert.equal(satisfies(d('musl<=1.2.5-r0'), 'musl', '1.2.5-r0'), true);
  assert.equal(satisfies(d('musl=1.2.5-r0'), 'musl', '1.2.5-r1'), false);
  assert.equal(satisfies(d('musl~1.2'), 'musl', '1.2.5-r1'), true);
  assert.equal(satisfies(d('musl~1.3'), 'musl', '1.2.5-r1'), false);
  // Versioned constraints are not met by a virtual (unversioned) provide.
  assert.equal(satisfies(d('/bin/sh'), '/bin/sh', null), true);
  assert.equal(satisfies(d('cmd:sh>=1'), 'cmd:sh', null), false);
  // Conflicts: satisfied when the provider does not match.
  assert.equal(satisfies(d('!busybox'), 'busybox', '1.36.1-r29'), false);
  assert.equal(satisfies(d('!busybox<1.36'), 'busybox', '1.36.1-r29'), true);
  assert.equal(satisfies(d('!busybox'), 'toybox', '1'), true);
  // Checksum pins.
  assert.equal(satisfies(d('zlib><Q1abc='), 'zlib', '1.3.1-r1', 'Q1abc='), true);
  assert.equal(satisfies(d('zlib><Q1abc='), 'zlib', '1.3.1-r1', 'Q1xyz='), false);
});
