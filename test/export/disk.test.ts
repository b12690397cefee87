/**
 * outputs.disk end to end, as the unprivileged user, on fixtures/disk: the
 * Raspberry-Pi-like MBR image (eib.yaml) and the GPT u-boot image
 * (gpt.yaml) are built once, then read by independent tools: sfdisk and
 * fdisk for the tables, each partition cut out at its offset and checked
 * by its own fsck and lister (fsck.vfat + mdir, e2fsck + debugfs,
 * unsquashfs, fsck.erofs), cmp for the raw bytes, bmaptool copy, gzip and
 * zstd for the copies. Bad layouts are refused with their eib.yaml line.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { demoProject } from '../helpers/demo-project.js';
import { SHARED_ALPINE, userTempDir } from '../helpers/user.js';
import { squashfsListing } from './fixture.js';

const skip = !existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main')) && 'shared/alpine test repository not present';
const MiB = 2 ** 20;

interface Placed {
  name: string;
  type: string;
  start: number;
  size: number;
  partuuid: string;
  fsid?: string;
}
interface DiskResult {
  bytes: number;
  diskId: string;
  partitions: Placed[];
  bmap?: string;
  compressed: string[];
}
interface SfdiskJson {
  partitiontable: { label: string; id: string; partitions: { node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean; attrs?: string }[] };
}

let dir = '';
let mbr: DiskResult;
let gpt: DiskResult;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function sbin(tool: string): string {
  return existsSync(`/usr/sbin/${tool}`) ? `/usr/sbin/${tool}` : tool;
}

function run(tool: string, args: string[]): string {
  return execFileSync(sbin(tool), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** Bytes [start, start + size) of a file. */
function slice(file: string, start: number, size: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size);
    readSync(fd, buf, 0, size, start);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** A partition cut out of the image into a file of its own. */
function cut(image: string, p: Placed): string {
  const file = join(userTempDir('eib-part-'), `${p.name}.img`);
  writeFileSync(file, slice(image, p.start, p.size));
  return file;
}

function sfdiskJson(image: string): SfdiskJson['partitiontable'] {
  return (JSON.parse(run('sfdisk', ['--json', image])) as SfdiskJson).partitiontable;
}

async function buildDisk(config: string): Promise<DiskResult> {
  const r = await runEib(['build', '--config', config, '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const outputs = (JSON.parse(r.stdout) as { outputs: { format: string; disk?: DiskResult }[] }).outputs;
  return outputs.find((o) => o.format === 'disk')!.disk!;
}

before(async () => {
  if (skip) return;
  dir = demoProject((y) => y, 'eib-disk-', 'disk');
  mbr = await buildDisk('eib.yaml');
  gpt = await buildDisk('gpt.yaml');
});

test('MBR image: sfdisk and fdisk read the table as configured; the boot partition is a vfat holding /boot and the host firmware', { skip }, () => {
  const image = join(dir, 'out', 'sdcard.img');
  const table = sfdiskJson(image);
  assert.equal(table.label, 'dos');
  assert.equal(table.id, mbr.diskId);
  assert.deepEqual(
    table.partitions.map((p) => ({ start: p.start * 512, size: p.size * 512, type: p.type, bootable: p.bootable ?? false })),
    [
      { start: MiB, size: 32 * MiB, type: 'c', bootable: true },
      { start: 33 * MiB, size: mbr.partitions[1]!.size, type: '83', bootable: false },
    ],
  );
  assert.match(run('fdisk', ['-l', image]), /sdcard\.img1 \*\s+2048\s+67583\s+65536\s+32M\s+c W95 FAT32 \(LBA\)/);

  const boot = cut(image, mbr.partitions[0]!);
  run('fsck.vfat', ['-n', boot]);
  const listing = run('mdir', ['-i', boot, '-/', '-b', '::/']).split('\n').filter(Boolean).sort();
  assert.deepEqual(listing, ['::/Image', '::/board.dtb', '::/config.txt', '::/extlinux/', '::/extlinux/extlinux.conf', '::/start4.elf']);
  assert.match(run('mtype', ['-i', boot, '::/extlinux/extlinux.conf']), /root=PARTUUID=@ROOT@ rootwait/);
  assert.match(run('mtype', ['-i', boot, '::/config.txt']), /arm_64bit=1/);
  assert.match(run('mdir', ['-i', boot, '::/']), /Volume in drive : is BOOT/);
});

test('MBR image: the root partition is an ext4 of the rest of the image, owners kept, /boot left as an empty mount point', { skip }, () => {
  const root = cut(join(dir, 'out', 'sdcard.img'), mbr.partitions[1]!);
  run('e2fsck', ['-fn', root]);
  assert.match(run('dumpe2fs', ['-h', root]), new RegExp(`Filesystem UUID:\\s+${mbr.partitions[1]!.fsid!}`));
  const stat = (path: string): string => run('debugfs', ['-R', `stat ${path}`, root]);
  assert.match(stat('/etc/shadow'), /Mode:\s+0640[\s\S]*User:\s+0\s+Group:\s+42/);
  assert.match(stat('/home/operator/notes.txt'), /User:\s+1000\s+Group:\s+1000/);
  assert.match(stat('/bin/busybox'), /Type: regular/);
  const boot = run('debugfs', ['-R', 'ls /boot', root]);
  assert.deepEqual(boot.split(/\s+/).filter((w) => /^[^()\d]/.test(w) && w !== ''), ['.', '..'], `/boot is empty: ${boot}`);
  assert.match(stat('/boot'), /Type: directory\s+Mode:\s+0755/);
});

test('MBR image: the raw blob is byte-identical at 8 KiB; bmaptool copy with the .bmap and the .gz/.zst copies give the image back', { skip }, () => {
  const image = join(dir, 'out', 'sdcard.img');
  const blob = readFileSync(join(dir, 'bootloader', 'u-boot.bin'));
  assert.ok(slice(image, 8192, blob.length).equals(blob));
  const whole = sha256(readFileSync(image));

  assert.equal(mbr.bmap, `${image}.bmap`);
  const copy = join(userTempDir('eib-bmap-'), 'flashed.img');
  execFileSync('bmaptool', ['copy', '--bmap', mbr.bmap!, image, copy], { stdio: 'pipe' });
  assert.equal(sha256(readFileSync(copy)), whole, 'bmaptool copy reproduces the image');
  const bmap = readFileSync(mbr.bmap!, 'utf8');
  const mapped = Number(/<MappedBlocksCount> (\d+) </.exec(bmap)?.[1]);
  assert.ok(mapped > 0 && mapped < mbr.bytes / 4096, 'only the blocks with data are mapped');

  assert.deepEqual(mbr.compressed, [`${image}.gz`, `${image}.zst`]);
  assert.equal(sha256(execFileSync('gzip', ['-dc', `${image}.gz`], { maxBuffer: 256 << 20 })), whole);
  assert.equal(sha256(execFileSync('zstd', ['-dc', `${image}.zst`], { maxBuffer: 256 << 20 })), whole);
});

test('GPT image: names, types, UUIDs and the bootable attribute as configured; squashfs root, ext4 boot, erofs data, raw loader', { skip }, () => {
  const image = join(dir, 'out', 'gpt.img');
  const table = sfdiskJson(image);
  assert.equal(table.label, 'gpt');
  assert.equal(table.id, gpt.diskId);
  assert.deepEqual(
    table.partitions.map((p) => [p.name, p.start * 512, p.size * 512, p.uuid?.toLowerCase(), p.attrs ?? '']),
    gpt.partitions.map((p) => [p.name, p.start, p.size, p.partuuid, p.name === 'boot' ? 'LegacyBIOSBootable' : '']),
  );
  assert.equal(gpt.partitions[2]!.partuuid, '6a1d5c3e-0b7f-4e2a-9c1d-3f5e7a9b1c2d', 'a uuid from eib.yaml is kept');
  assert.ok(gpt.partitions.every((p) => p.start % (4 * MiB) === 0), 'align: 4M');
  assert.match(run('fdisk', ['-l', image]), /Disklabel type: gpt/);

  const [loader, boot, root, data] = gpt.partitions as [Placed, Placed, Placed, Placed];
  const blob = readFileSync(join(dir, 'bootloader', 'u-boot.bin'));
  assert.ok(slice(image, loader.start, blob.length).equals(blob), 'the raw partition holds the image\'s u-boot.bin');
  assert.ok(slice(image, 32 * 1024, blob.length).equals(blob), 'the raw write at 32 KiB');

  const bootFs = cut(image, boot);
  run('e2fsck', ['-fn', bootFs]);
  assert.match(run('debugfs', ['-R', 'ls -l /extlinux', bootFs]), /extlinux\.conf/);

  const rootFs = cut(image, root);
  const listing = squashfsListing(rootFs);
  assert.equal(listing.get('/etc/shadow'), 'file 0640 0:42');
  assert.equal(listing.get('/home/operator/notes.txt'), 'file 0644 1000:1000');
  assert.equal(listing.get('/boot'), 'dir 0755 0:0');
  assert.ok(![...listing.keys()].some((p) => p.startsWith('/boot/')), '/boot\'s files are in the boot partition only');

  const dataFs = cut(image, data);
  const extracted = join(userTempDir('eib-erofs-'), 'data');
  execFileSync('fsck.erofs', [`--extract=${extracted}`, dataFs], { stdio: 'pipe' });
  assert.equal(readFileSync(join(extracted, 'config.txt'), 'utf8'), readFileSync(join(dir, 'firmware', 'config.txt'), 'utf8'));
  assert.equal(readFileSync(join(extracted, 'notes.txt'), 'utf8'), 'operator notes\n');
});

test('disk images with an epoch are byte-identical from build to build, PARTUUIDs included', { skip }, async () => {
  const image = join(dir, 'out', 'sdcard.img');
  const before = sha256(readFileSync(image));
  const again = await buildDisk('eib.yaml');
  assert.equal(sha256(readFileSync(image)), before);
  assert.deepEqual(again, mbr);
});

/** A copy of the fixture's eib.yaml with its outputs.disk replaced. */
function withDisk(disk: string): string {
  const yaml = readFileSync(join(dir, 'eib.yaml'), 'utf8');
  return `${yaml.slice(0, yaml.indexOf('  disk:'))}${disk}`;
}

test('bad layouts are refused with the eib.yaml line: overlap, raw write over the table, unknown type, sizes without units', { skip }, async () => {
  const cases: [string, string, RegExp][] = [
    [
      'overlap',
      '  disk:\n    path: out/x.img\n    table: gpt\n    partitions:\n      - { name: a, type: ext4, size: 8M, content: rootfs }\n      - { name: b, type: vfat, size: 8M, start: 4M }\n',
      /^error: overlap\.yaml:\d+:49: outputs\.disk\.partitions\[1\]\.start: partition "b" \(from 4 MiB to 12 MiB\) overlaps partition "a" \(1 MiB to 9 MiB\)/m,
    ],
    [
      'table',
      '  disk:\n    path: out/x.img\n    table: gpt\n    partitions:\n      - { name: a, type: ext4, content: rootfs }\n    raw:\n      - { offset: 8K, src: bootloader/u-boot.bin }\n',
      /^error: table\.yaml:\d+:\d+: outputs\.disk\.raw\[0\]\.offset: raw write at 8 KiB \(20000 bytes\) overlaps the primary GPT \(0 to 17 KiB\); .*use table: mbr/m,
    ],
    ['type', '  disk:\n    path: out/x.img\n    table: mbr\n    partitions:\n      - { name: a, type: ext3, content: rootfs }\n', /^error: type\.yaml:\d+:\d+: .*"ext3" is not allowed \(did you mean "ext4"\?\); expected one of: vfat, ext4, squashfs, erofs, raw/m],
    ['units', '  disk:\n    path: out/x.img\n    table: mbr\n    partitions:\n      - { name: a, type: ext4, size: 64, content: rootfs }\n', /^error: units\.yaml:\d+:\d+: .*size: got the number 64; expected auto, or a size with a unit/m],
  ];
  for (const [name, disk, expected] of cases) {
    writeFileSync(join(dir, `${name}.yaml`), withDisk(disk));
    const r = await runEib(['config', '--config', `${name}.yaml`], { cwd: dir });
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, expected, name);
  }
});

test('content larger than its partition fails the build with the line of its size, and leaves no file', { skip }, async () => {
  writeFileSync(join(dir, 'small.yaml'), withDisk('  disk:\n    path: out/small.img\n    table: mbr\n    partitions:\n      - name: root\n        type: ext4\n        size: 2M\n        content: rootfs\n'));
  const r = await runEib(['build', '--config', 'small.yaml'], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /small\.yaml:\d+:15: partition "root": the content \(.*\) needs an ext4 of at least .*, more than 2\.0 MiB; use size: \d+M or more, or auto/);
  assert.ok(!existsSync(join(dir, 'out', 'small.img')));
});
