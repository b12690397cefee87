/**
 * eib export as the unprivileged user, on an image made from the real
 * Alpine minirootfs plus a stage that removes, replaces and re-owns files
 * and one with device nodes. The tar is checked against what umoci unpacks
 * from the same OCI image; the ext4 image with e2fsck, debugfs and an
 * rdump of its tree; both for byte-identical repeats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runEib } from '../helpers/cli.js';
import { asUser, userTempDir } from '../helpers/user.js';
import { cpioListing, haveMinirootfs, makeProject, tarListing, tarListingOfTree, umociListing } from './fixture.js';

const skip = !haveMinirootfs && 'shared/alpine minirootfs not present';
const DEVICES = new Map([
  ['/dev/console', 'char 0620 0:5'],
  ['/dev/null', 'char 0666 0:0'],
  ['/dev/mmcblk0', 'block 0660 0:6'],
]);

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

async function eib(dir: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runEib(args, { cwd: dir });
}

function e2(tool: string, args: string[]): string {
  return execFileSync(`/usr/sbin/${tool}`, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes('.eib-'));
}

test('the tar export lists exactly what umoci unpacks, owners and modes included', { skip }, async () => {
  const dir = makeProject();
  const r = await eib(dir, ['export', 'rootfs.tar', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { format: string; bytes: number; digest: string; stage: string };
  assert.equal(result.format, 'tar');
  assert.equal(result.stage, 'devices');
  assert.equal(`sha256:${sha256(join(dir, 'rootfs.tar'))}`, result.digest);

  const ours = tarListing(join(dir, 'rootfs.tar'));
  const unpacked = join(userTempDir('eib-umoci-'), 'rootfs');
  const umoci = [...asUser(), 'umoci', 'raw', 'unpack', '--rootless', '--image', `${join(dir, 'out', 'oci')}:latest`, unpacked];
  execFileSync(umoci[0]!, umoci.slice(1), { stdio: 'ignore' });
  const theirs = umociListing(unpacked);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), 'same paths as umoci');
  for (const [path, entry] of ours) {
    // Rootless umoci writes device nodes as empty files; the tar keeps them.
    const expected = DEVICES.get(path) ?? theirs.get(path);
    assert.equal(entry, expected, `${path}: eib tar vs umoci`);
  }

  assert.equal(ours.get('/etc/shadow'), 'file 0640 0:42');
  assert.equal(ours.get('/bin/ls'), 'symlink 0777 0:0 /bin/busybox');
  assert.equal(ours.get('/bin/suidtool'), 'file 4755 0:0');
  assert.equal(ours.get('/srv/data'), 'dir 2770 1000:1000');
  assert.equal(ours.get('/home/operator/notes'), 'file 0644 1000:1000');
  assert.equal(ours.get('/dev/initctl'), 'fifo 0600 0:0');
  for (const gone of ['/etc/motd', '/usr/share/udhcpc', '/srv/data/one']) assert.ok(!ours.has(gone), `${gone} was removed by a later stage`);
  assert.deepEqual([...ours.keys()].filter((p) => p.startsWith('/etc/apk/keys/')), ['/etc/apk/keys/only.rsa.pub'], 'the opaque directory hides the lower keys');
  assert.ok(![...ours.keys()].some((p) => p.includes('.wh.')), 'no whiteout left');

  // The capability travels as a PAX xattr record.
  const caps = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', join(dir, 'rootfs.tar'), 'usr/bin/pinger'], { encoding: 'utf8' });
  assert.match(caps, /pinger/);
  rmSync(unpacked, { recursive: true, force: true });
});

test('tar and tar.gz exports repeat byte for byte; --stage stops at a stage', { skip }, async () => {
  const dir = makeProject();
  for (const name of ['a.tar.gz', 'b.tgz', 'c.tar', 'd.tar']) assert.equal((await eib(dir, ['export', name, '-q'])).code, 0);
  assert.equal(sha256(join(dir, 'a.tar.gz')), sha256(join(dir, 'b.tgz')));
  assert.equal(sha256(join(dir, 'c.tar')), sha256(join(dir, 'd.tar')));
  assert.ok(gunzipSync(readFileSync(join(dir, 'a.tar.gz'))).equals(readFileSync(join(dir, 'c.tar'))), 'the .tar.gz holds the same tar');

  assert.equal((await eib(dir, ['export', 'base.tar', '--stage', 'base'])).code, 0);
  const base = tarListing(join(dir, 'base.tar'));
  assert.ok(base.has('/etc/motd') && base.has('/srv/data/one') && !base.has('/dev/console'), 'the base stage alone, before later changes');
  assert.deepEqual(leftovers(dir), []);
});

test('the initramfs export is a cpio newc archive GNU cpio lists with the tar export\'s tree, devices and hardlinks', { skip }, async () => {
  const dir = makeProject();
  const r = await eib(dir, ['export', 'initramfs.cpio.gz', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { format: string; digest: string; cpio: { entries: number; droppedXattrs: number } };
  assert.equal(result.format, 'cpio.gz');
  assert.equal(`sha256:${sha256(join(dir, 'initramfs.cpio.gz'))}`, result.digest);
  assert.equal(result.cpio.droppedXattrs, 2, 'the capability of /usr/bin/pinger and the user xattr of /srv/data/two cannot be held by newc, and are counted');
  assert.match(r.stderr, /2 file\(s\) have extended attributes/);
  assert.equal((await eib(dir, ['export', 'plain.cpio', '-q'])).code, 0);
  assert.ok(gunzipSync(readFileSync(join(dir, 'initramfs.cpio.gz'))).equals(readFileSync(join(dir, 'plain.cpio'))), 'the .cpio.gz holds the same archive');
  assert.equal((await eib(dir, ['export', 'again.cpio', '-q'])).code, 0);
  assert.equal(sha256(join(dir, 'plain.cpio')), sha256(join(dir, 'again.cpio')), 'byte for byte the same');

  assert.equal((await eib(dir, ['export', 'rootfs.tar', '-q'])).code, 0);
  const tar = tarListing(join(dir, 'rootfs.tar'));
  const { listing, devices } = cpioListing(join(dir, 'plain.cpio'));
  assert.deepEqual([...listing.keys()].sort(), [...tar.keys()].sort(), 'same paths as the tar export');
  for (const [path, entry] of tar) assert.equal(listing.get(path), entry, `${path}: cpio vs tar`);
  assert.equal(devices.get('/dev/mmcblk0'), '179,0');
  assert.equal(devices.get('/dev/null'), '1,3');
  // The kernel's unpacker creates no parents: each directory comes before what is in it.
  const names = execFileSync('sh', ['-c', 'cpio -t --quiet < "$1"', 'sh', join(dir, 'plain.cpio')], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const seen = new Set<string>();
  for (const name of names) {
    const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '.';
    if (name !== '.' && (parent !== '.' || names.includes('.'))) assert.ok(seen.has(parent), `${parent} is listed before ${name}`);
    assert.ok(!seen.has(name), `${name} is listed once`);
    seen.add(name);
  }

  assert.equal((await eib(dir, ['export', 'base.cpio', '--stage', 'base', '-q'])).code, 0);
  const base = cpioListing(join(dir, 'base.cpio'));
  assert.equal(base.nlinks.get('/srv/data/one'), 2);
  assert.equal(base.nlinks.get('/srv/data/two'), 2);
  const unpacked = userTempDir('eib-cpio-');
  execFileSync('sh', ['-c', 'cd "$1" && cpio -id --quiet --no-absolute-filenames srv/data/one srv/data/two < "$2"', 'sh', unpacked, join(dir, 'base.cpio')]);
  const one = statSync(join(unpacked, 'srv', 'data', 'one'));
  assert.equal(one.ino, statSync(join(unpacked, 'srv', 'data', 'two')).ino, 'cpio -i makes the two names one file');
  assert.equal(readFileSync(join(unpacked, 'srv', 'data', 'two'), 'utf8'), 'same inode\n');
  rmSync(unpacked, { recursive: true, force: true });
  assert.deepEqual(leftovers(dir), []);
});

function debugfsStat(image: string, path: string): { mode: string; uid: number; gid: number; type: string } {
  const out = e2('debugfs', ['-R', `stat "${path}"`, image]);
  const m = /Type: (.+?)\s+Mode:\s+(\d+)[\s\S]*?User:\s+(\d+)\s+Group:\s+(\d+)/.exec(out);
  assert.ok(m, `debugfs stat ${path}:\n${out}`);
  return { type: m[1]!, mode: m[2]!.padStart(4, '0'), uid: Number(m[3]), gid: Number(m[4]) };
}

test('the ext4 export passes e2fsck and holds the same tree, owners, modes, xattrs and devices', { skip }, async () => {
  const dir = makeProject();
  assert.equal((await eib(dir, ['export', 'rootfs.tar', '-q'])).code, 0);
  const r = await eib(dir, ['export', 'rootfs.ext4', '--label', 'eibroot', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { bytes: number; ext4: { uuid: string; minimumBytes: number } };
  const image = join(dir, 'rootfs.ext4');
  assert.equal(readFileSync(image).length, result.bytes);
  e2('e2fsck', ['-fn', image]);
  const header = e2('dumpe2fs', ['-h', image]);
  assert.match(header, /Filesystem volume name:\s+eibroot/);
  assert.match(header, new RegExp(`Filesystem UUID:\\s+${result.ext4.uuid}`));

  assert.deepEqual(debugfsStat(image, '/etc/shadow'), { type: 'regular', mode: '0640', uid: 0, gid: 42 });
  assert.deepEqual(debugfsStat(image, '/bin/suidtool'), { type: 'regular', mode: '04755', uid: 0, gid: 0 });
  assert.deepEqual(debugfsStat(image, '/tmp'), { type: 'directory', mode: '01777', uid: 0, gid: 0 });
  assert.deepEqual(debugfsStat(image, '/srv/data'), { type: 'directory', mode: '02770', uid: 1000, gid: 1000 });
  assert.deepEqual(debugfsStat(image, '/dev/console'), { type: 'character special', mode: '0620', uid: 0, gid: 5 });
  assert.deepEqual(debugfsStat(image, '/dev/mmcblk0'), { type: 'block special', mode: '0660', uid: 0, gid: 6 });
  assert.deepEqual(debugfsStat(image, '/dev/initctl'), { type: 'FIFO', mode: '0600', uid: 0, gid: 0 });
  assert.match(e2('debugfs', ['-R', 'stat /dev/mmcblk0', image]), /Device major\/minor number: 179:0/);
  assert.match(e2('debugfs', ['-R', 'ea_list /usr/bin/pinger', image]), /security\.capability \(20\) = 01 00 00 02 00 20 00 00/, 'cap_net_raw+ep');
  assert.match(e2('debugfs', ['-R', 'ea_list /srv/data/two', image]), /user\.eib\.test \(4\) = "kept"/);
  assert.match(e2('debugfs', ['-R', 'stat /bin/ls', image]), /Fast link dest: "\/bin\/busybox"/);

  // The whole tree, dumped by debugfs (owners and modes kept, run as root), against the tar export.
  const dump = userTempDir('eib-rdump-');
  e2('debugfs', ['-R', `rdump / ${dump}`, image]);
  const tree = tarListingOfTree(dump);
  const fromTar = tarListing(join(dir, 'rootfs.tar'));
  for (const [path, entry] of fromTar) {
    if (entry.startsWith('char') || entry.startsWith('block') || entry.startsWith('fifo')) continue; // rdump skips special files; checked above
    // rdump drops setuid, setgid and sticky bits (it chmods before it chowns): those are checked with debugfs stat above.
    assert.equal(withoutSpecialBits(tree.get(path)), withoutSpecialBits(entry), `${path}: ext4 vs tar`);
  }
  const extra = [...tree.keys()].filter((p) => !fromTar.has(p) && p !== '/lost+found');
  assert.deepEqual(extra, [], 'nothing in the ext4 image that the tar lacks');
  rmSync(dump, { recursive: true, force: true });
});

function withoutSpecialBits(entry: string | undefined): string | undefined {
  return entry?.replace(/^(\S+) [0-7]/, '$1 0');
}

test('ext4 exports with an epoch are byte-identical; an explicit size is checked against the content', { skip }, async () => {
  const dir = makeProject();
  assert.equal((await eib(dir, ['export', 'one.ext4', '-q'])).code, 0);
  const again = await eib(dir, ['export', 'two.img', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(sha256(join(dir, 'one.ext4')), sha256(join(dir, 'two.img')), 'same image, same bytes');
  const { ext4 } = JSON.parse(again.stdout) as { ext4: { minimumBytes: number } };

  const exact = await eib(dir, ['export', 'min.ext4', '--size', String(ext4.minimumBytes), '-q']);
  assert.equal(exact.code, 0, `the minimum size is enough: ${exact.stderr}`);
  e2('e2fsck', ['-fn', join(dir, 'min.ext4')]);

  const small = await eib(dir, ['export', 'small.ext4', '--size', '8M']);
  assert.equal(small.code, 1);
  assert.match(small.stderr, /too small .* needs at least \d+\.\d MiB .*--size \d+M/);
  assert.deepEqual(leftovers(dir), [], 'no temporary file left beside the target');
  assert.ok(!readdirSync(dir).includes('small.ext4'));
  assert.deepEqual(readdirSync(join(dir, 'cache', 'tmp')), [], 'the unpacked tree is gone');

  const uuid = '0b8e2a7c-3f1d-4e5a-9c6b-7d8e9f0a1b2c';
  assert.equal((await eib(dir, ['export', 'u.ext4', '--uuid', uuid, '-q'])).code, 0);
  assert.match(e2('dumpe2fs', ['-h', join(dir, 'u.ext4')]), new RegExp(`Filesystem UUID:\\s+${uuid}`));
});

test('export errors: unknown extension, unknown stage, bad size, ext4 flags on a tar, no image yet', { skip }, async () => {
  const dir = makeProject();
  const cases: [string[], number, RegExp][] = [
    [['export', 'rootfs.zip'], 2, /\.tar\.gz, \.tgz, \.tar, \.ext4, \.img/],
    [['export', 'rootfs.tar', '--stage', 'nope'], 2, /unknown stage "nope"; the image's stages are: base, configure, devices/],
    [['export', 'rootfs.ext4', '--size', 'lots'], 2, /invalid size "lots"/],
    [['export', 'rootfs.tar', '--size', '1G'], 2, /--size applies to ext4 images only/],
    [['export', 'rootfs.ext4', '--uuid', 'not-a-uuid'], 2, /is not a UUID/],
    [['export', 'rootfs.ext4', '--label', 'a-label-longer-than-16'], 2, /longer than 16 bytes/],
  ];
  for (const [args, code, message] of cases) {
    const r = await eib(dir, args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  const fresh = makeProject({ built: false });
  const r = await eib(fresh, ['export', 'rootfs.tar']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /run eib build first/);
  assert.deepEqual(leftovers(fresh), []);
});
