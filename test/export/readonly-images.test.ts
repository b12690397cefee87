/**
 * squashfs and erofs exports as the unprivileged user, on the export tests'
 * image (the real Alpine minirootfs, a stage that re-owns files, one with
 * device nodes and a FIFO). unsquashfs -lln and fsck.erofs/dump.erofs
 * read them back; listings are compared with the tar export's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { userTempDir } from '../helpers/user.js';
import { haveMinirootfs, makeProject, squashfsListing, tarListing, tarListingOfTree } from './fixture.js';

const skip = !haveMinirootfs && 'shared/alpine minirootfs not present';

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function withoutSpecialBits(entry: string | undefined): string | undefined {
  return entry?.replace(/^(\S+) [0-7]/, '$1 0');
}

/** i_mode of a path's inode, read from the image: dump.erofs gives the inode number (nid), the superblock where inodes start. */
function erofsMode(image: string, path: string): number {
  const nid = Number(/NID: (\d+)/.exec(execFileSync('dump.erofs', [`--path=${path}`, image], { encoding: 'utf8' }))?.[1]);
  const bytes = readFileSync(image);
  const blockBits = bytes.readUInt8(1024 + 12);
  const metaBlock = bytes.readUInt32LE(1024 + 40);
  // Compact and extended inodes both start with i_format, i_xattr_icount, i_mode (16 bits each).
  return bytes.readUInt16LE(metaBlock * 2 ** blockBits + nid * 32 + 4);
}

test('squashfs export: unsquashfs lists the tar export\'s tree, devices and FIFO included; repeats byte for byte', { skip }, async () => {
  const dir = makeProject();
  assert.equal((await runEib(['export', 'rootfs.tar', '-q'], { cwd: dir })).code, 0);
  const r = await runEib(['export', 'rootfs.squashfs', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { format: string; bytes: number };
  assert.equal(result.format, 'squashfs');
  const image = join(dir, 'rootfs.squashfs');
  assert.equal(readFileSync(image).length, result.bytes);

  const ours = squashfsListing(image);
  const fromTar = tarListing(join(dir, 'rootfs.tar'));
  assert.deepEqual([...ours.keys()].sort(), [...fromTar.keys()].sort(), 'same paths as the tar export');
  for (const [path, entry] of fromTar) assert.equal(ours.get(path), entry, `${path}: squashfs vs tar`);
  assert.equal(ours.get('/etc/shadow'), 'file 0640 0:42');
  assert.equal(ours.get('/dev/console'), 'char 0620 0:5');
  assert.equal(ours.get('/dev/initctl'), 'fifo 0600 0:0');
  const xattrs = execFileSync('unsquashfs', ['-lls', '-d', '', image, '/usr/bin/pinger'], { encoding: 'utf8' });
  assert.match(xattrs, /pinger/);

  assert.equal((await runEib(['export', 'again.sqfs', '-q'], { cwd: dir })).code, 0);
  assert.equal(sha256(join(dir, 'again.sqfs')), sha256(image), 'same image, same bytes');
  assert.deepEqual(readdirSync(join(dir, 'cache', 'tmp')), [], 'the unpacked tree is gone');
});

test('erofs export: fsck.erofs passes and dump.erofs reads owners and modes; device nodes are refused with what to do', { skip }, async () => {
  const dir = makeProject();
  const r = await runEib(['export', 'rootfs.erofs', '--stage', 'configure', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const image = join(dir, 'rootfs.erofs');
  assert.equal((await runEib(['export', 'configure.tar', '--stage', 'configure', '-q'], { cwd: dir })).code, 0);
  // fsck.erofs checks every file while extracting; as root it keeps owners and modes.
  const extracted = join(userTempDir('eib-erofs-'), 'tree');
  execFileSync('fsck.erofs', [`--extract=${extracted}`, '--preserve', image], { stdio: 'pipe' });
  const tree = tarListingOfTree(extracted);
  const fromTar = tarListing(join(dir, 'configure.tar'));
  assert.deepEqual([...tree.keys()].sort(), [...fromTar.keys()].sort(), 'same paths as the tar export');
  // erofs-utils 1.5 masks setuid, setgid and sticky bits when it extracts or prints: those are read from the inodes below.
  for (const [path, entry] of fromTar) assert.equal(withoutSpecialBits(tree.get(path)), withoutSpecialBits(entry), `${path}: erofs vs tar`);
  assert.equal(tree.get('/etc/shadow'), 'file 0640 0:42');
  assert.equal(erofsMode(image, '/srv/data'), 0o42770);
  assert.equal(erofsMode(image, '/bin/suidtool'), 0o104755);
  assert.equal(erofsMode(image, '/tmp'), 0o41777);
  rmSync(extracted, { recursive: true, force: true });

  assert.equal((await runEib(['export', 'again.erofs', '--stage', 'configure', '-q'], { cwd: dir })).code, 0);
  assert.equal(sha256(join(dir, 'again.erofs')), sha256(image), 'same image, same bytes');

  const devices = await runEib(['export', 'all.erofs'], { cwd: dir });
  assert.equal(devices.code, 1);
  assert.match(devices.stderr, /device node \/dev\/(console|null|mmcblk0).*use squashfs or ext4/);
  assert.ok(!readdirSync(dir).some((n) => n.includes('all.erofs')), 'no partial file left');
});
