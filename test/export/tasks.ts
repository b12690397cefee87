/**
 * Runs inside the user namespace (through runInNamespace) to make the test
 * image's layers the way a build does: a base layer from the real Alpine
 * minirootfs unpacked in the namespace, plus test-only files (setuid,
 * security.capability, user xattr, hardlinks); a second layer from an
 * overlay upperdir that removes, replaces and re-owns files; a third,
 * written as a tar directly, with device nodes and a FIFO, which no
 * rootless tree can hold.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { encodeHeader, END_OF_ARCHIVE, type TarHeader } from '../../src/layer/tar-header.js';
import { writeLayer, type WrittenLayer } from '../../src/layer/write.js';
import { MediaType } from '../../src/oci/types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { namespaceTask } from '../../src/sandbox/task.js';

export interface LayerPayload {
  tarball: string;
  work: string;
  layoutDir: string;
  epoch: number;
}

export interface TestLayer {
  name: string;
  layer: WrittenLayer['descriptor'];
  diffId: string;
}

function sh(args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function makeLayers(p: LayerPayload): Promise<TestLayer[]> {
  const store = new BlobStore(p.layoutDir);
  const base = join(p.work, 'base');
  mkdirSync(base, { recursive: true });
  sh(['tar', '-xzf', p.tarball, '-C', base, '--numeric-owner']);
  // Test-only content: a setuid root program, a file capability, a user xattr, hardlinks, a long symlink.
  copyFileSync(join(base, 'bin', 'busybox'), join(base, 'bin', 'suidtool'));
  chmodSync(join(base, 'bin', 'suidtool'), 0o4755);
  copyFileSync(join(base, 'bin', 'busybox'), join(base, 'usr', 'bin', 'pinger'));
  chownSync(join(base, 'usr', 'bin', 'pinger'), 0, 0);
  chmodSync(join(base, 'usr', 'bin', 'pinger'), 0o750);
  sh(['setcap', 'cap_net_raw+ep', join(base, 'usr', 'bin', 'pinger')]);
  mkdirSync(join(base, 'srv', 'data'), { recursive: true });
  writeFileSync(join(base, 'srv', 'data', 'one'), 'same inode\n');
  linkSync(join(base, 'srv', 'data', 'one'), join(base, 'srv', 'data', 'two'));
  sh(['setfattr', '-n', 'user.eib.test', '-v', 'kept', join(base, 'srv', 'data', 'one')]);
  symlinkSync(`/${'long-target/'.repeat(8)}file`, join(base, 'srv', 'longlink'));
  chownSync(join(base, 'srv', 'data'), 1000, 1000);
  chmodSync(join(base, 'srv', 'data'), 0o2770);
  const layers: TestLayer[] = [];
  const l1 = await writeLayer(store, { dir: base, kind: 'tree', epoch: p.epoch });
  layers.push({ name: 'base', layer: l1.descriptor, diffId: l1.diffId });

  // Second stage: changes through an overlay, as a build stage makes them.
  const upper = join(p.work, 'upper');
  const ovlWork = join(p.work, 'ovlwork');
  const merged = join(p.work, 'merged');
  for (const d of [upper, ovlWork, merged]) mkdirSync(d, { recursive: true });
  sh(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${base},upperdir=${upper},workdir=${ovlWork},userxattr`, merged]);
  try {
    rmSync(join(merged, 'etc', 'motd'));
    rmSync(join(merged, 'usr', 'share', 'udhcpc'), { recursive: true });
    writeFileSync(join(merged, 'etc', 'hostname'), 'exported-device\n');
    rmSync(join(merged, 'etc', 'apk', 'keys'), { recursive: true });
    mkdirSync(join(merged, 'etc', 'apk', 'keys'));
    writeFileSync(join(merged, 'etc', 'apk', 'keys', 'only.rsa.pub'), 'replaced keys\n');
    rmSync(join(merged, 'srv', 'data', 'one'));
    mkdirSync(join(merged, 'home', 'operator'), { recursive: true });
    chownSync(join(merged, 'home', 'operator'), 1000, 1000);
    chmodSync(join(merged, 'home', 'operator'), 0o700);
    writeFileSync(join(merged, 'home', 'operator', 'notes'), 'hi\n');
    chownSync(join(merged, 'home', 'operator', 'notes'), 1000, 1000);
  } finally {
    sh(['umount', merged]);
  }
  const l2 = await writeLayer(store, { dir: upper, kind: 'upperdir', lowers: [base], epoch: p.epoch });
  layers.push({ name: 'configure', layer: l2.descriptor, diffId: l2.diffId });

  const l3 = await writeTarLayer(store, p.epoch, [
    dirEntry('dev', 0o755, p.epoch),
    { ...dirEntry('dev/console', 0o620, p.epoch), type: 'char', gid: 5, devmajor: 5, devminor: 1 },
    { ...dirEntry('dev/null', 0o666, p.epoch), type: 'char', devmajor: 1, devminor: 3 },
    { ...dirEntry('dev/mmcblk0', 0o660, p.epoch), type: 'block', gid: 6, devmajor: 179, devminor: 0 },
    { ...dirEntry('dev/initctl', 0o600, p.epoch), type: 'fifo' },
  ]);
  layers.push({ name: 'devices', layer: l3.descriptor, diffId: l3.diffId });
  return layers;
}

function dirEntry(path: string, mode: number, mtime: number): TarHeader {
  return { path, type: 'dir', mode, uid: 0, gid: 0, size: 0, mtime, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() };
}

async function writeTarLayer(store: BlobStore, _epoch: number, entries: TarHeader[]): Promise<{ descriptor: WrittenLayer['descriptor']; diffId: string }> {
  const tar = Buffer.concat([...entries.map(encodeHeader), END_OF_ARCHIVE]);
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const ref = await store.put(Readable.from([tar]).pipe(createGzip()));
  return { descriptor: { mediaType: MediaType.LayerGzip, digest: ref.digest, size: ref.size }, diffId };
}

export const makeLayersTask = namespaceTask(import.meta.url, 'makeLayersTask', makeLayers);
