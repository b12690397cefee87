/**
 * Runs inside the user namespace (through runInNamespace): the layers of the
 * SBOM tests' x86_64 image, made the way a build makes them. Stage "base" is
 * the real Alpine minirootfs; stage "configure" runs the real apk-tools in
 * an overlay to delete a package (so its files become whiteouts and the
 * installed database changes in that layer); stage "prune" removes files.
 * Then the real `apk info` lists what is installed in the merged image.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeLayer } from '../../src/layer/write.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { namespaceTask } from '../../src/sandbox/task.js';

export interface ImagePayload {
  tarball: string;
  work: string;
  layoutDir: string;
  epoch: number;
  /** The package stage "configure" deletes with apk del. */
  remove: string;
}

export interface MadeLayer {
  name: string;
  descriptor: { mediaType: string; digest: string; size: number };
  diffId: string;
}

export interface MadeImage {
  layers: MadeLayer[];
  /** `apk info` of the merged image, as the real apk prints it. */
  apkInfo: string[];
}

function run(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function overlay(lowers: string[], upper: string, work: string, merged: string): void {
  for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
  run(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work},userxattr`, merged]);
}

async function makeLayers(p: ImagePayload): Promise<MadeImage> {
  const store = new BlobStore(p.layoutDir);
  const dir = (name: string): string => join(p.work, name);
  const layers: MadeLayer[] = [];
  const add = (name: string, w: Awaited<ReturnType<typeof writeLayer>>): void => {
    layers.push({ name, descriptor: w.descriptor, diffId: w.diffId });
  };

  mkdirSync(dir('base'), { recursive: true });
  run(['tar', '-xzf', p.tarball, '-C', dir('base'), '--numeric-owner']);
  add('base', await writeLayer(store, { dir: dir('base'), kind: 'tree', epoch: p.epoch }));

  overlay([dir('base')], dir('upper1'), dir('work1'), dir('merged'));
  try {
    run(['chroot', dir('merged'), '/sbin/apk', 'del', '--no-network', '--quiet', p.remove]);
  } finally {
    run(['umount', dir('merged')]);
  }
  add('configure', await writeLayer(store, { dir: dir('upper1'), kind: 'upperdir', lowers: [dir('base')], epoch: p.epoch }));

  overlay([dir('upper1'), dir('base')], dir('upper2'), dir('work2'), dir('merged'));
  try {
    rmSync(join(dir('merged'), 'etc', 'motd'));
    rmSync(join(dir('merged'), 'usr', 'share', 'udhcpc'), { recursive: true });
  } finally {
    run(['umount', dir('merged')]);
  }
  add('prune', await writeLayer(store, { dir: dir('upper2'), kind: 'upperdir', lowers: [dir('upper1'), dir('base')], epoch: p.epoch }));

  // The final image as the real apk sees it: all three layers, read-only.
  mkdirSync(dir('merged'), { recursive: true });
  run(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${[dir('upper2'), dir('upper1'), dir('base')].join(':')},userxattr`, dir('merged')]);
  let info: string;
  try {
    info = run(['chroot', dir('merged'), '/sbin/apk', 'info', '--no-network']);
  } finally {
    run(['umount', dir('merged')]);
  }
  return { layers, apkInfo: info.split('\n').filter((l) => l !== '') };
}

export const makeLayersTask = namespaceTask(import.meta.url, 'makeLayersTask', makeLayers);
