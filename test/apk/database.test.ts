/**
 * The installed database round-trips apk-tools' own files byte for byte:
 * parse the real minirootfs database and write it back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatInstalled, formatTriggers, parseInstalled, readDatabase, scriptEntryName } from '../../src/apk/database.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const MINIROOTFS = join(SHARED_ALPINE, 'minirootfs', 'alpine-minirootfs-3.20.3-aarch64.tar.gz');

function unpackDb(): string | undefined {
  if (!existsSync(MINIROOTFS)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'eib-apkdb-'));
  execFileSync('tar', ['xzf', MINIROOTFS, '-C', dir, './lib/apk/db', './etc/apk/world']);
  return dir;
}

test('the real installed database parses and formats back byte for byte', { skip: !existsSync(MINIROOTFS) }, () => {
  const dir = unpackDb() as string;
  const text = readFileSync(join(dir, 'lib/apk/db/installed'), 'utf8');
  const packages = parseInstalled(text);
  assert.equal(packages.length, 14);
  assert.equal(formatInstalled(packages), text);
  const baselayout = packages.find((p) => p.name === 'alpine-baselayout');
  assert.equal(baselayout?.replacesPriority, 1000);
  const tmp = baselayout?.dirs.find((d) => d.name === 'tmp');
  assert.deepEqual(tmp?.acl, { uid: 0, gid: 0, mode: 0o1777 });
});

test('readDatabase attaches scripts and triggers to their packages', { skip: !existsSync(MINIROOTFS) }, async () => {
  const dir = unpackDb() as string;
  const db = await readDatabase(dir);
  const busybox = db.packages.find((p) => p.name === 'busybox');
  assert.ok(busybox);
  assert.deepEqual(busybox.triggers, ['/bin', '/usr/bin', '/sbin', '/usr/sbin', '/lib/modules/*']);
  assert.deepEqual([...busybox.scripts.keys()].sort(), ['post-install', 'post-upgrade', 'trigger']);
  assert.equal(scriptEntryName(busybox, 'trigger'), 'busybox-1.36.1-r29.Q1PZ3T+4Hk9em7LUMOn+9ZggOsfIA=.trigger');
  assert.equal(formatTriggers(db.packages), readFileSync(join(dir, 'lib/apk/db/triggers'), 'utf8'));
  assert.deepEqual(db.world, ['alpine-baselayout', 'alpine-keys', 'apk-tools', 'busybox', 'libc-utils']);
});
