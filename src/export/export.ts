/**
 * `eib export`: the last build's image (or its first stages) as a file a
 * device can use — a flattened rootfs tar (.tar, .tar.gz/.tgz), an ext4
 * image (.ext4, .img), a read-only squashfs (.squashfs, .sqfs) or erofs
 * (.erofs) image, or an initramfs (.cpio.gz, .cpio). Every output is written under a temporary name
 * beside the target and renamed into place at the end.
 */
import { resolve } from 'node:path';
import type { AlpineArch, Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import type { Digest } from '../oci/types.js';
import { writeDisk, type WrittenDisk } from './disk.js';
import { writeExt4 } from './ext4.js';
import { formatFromPath, parseSize, SUPPORTED_EXTENSIONS, type ExportFormat } from './format.js';
import { writeInitramfs } from './initramfs.js';
import { selectImage } from './select.js';
import { writeRootfsTar } from './tar.js';
import { rememberedScans } from '../layer/flatten-scans.js';
import { writeAtomically } from './temp-output.js';
import { writeTreeImage } from './tree-image.js';
import { lockCacheShared } from '../store/cache-lock.js';
import type { BuiltImage } from '../store/built-image.js';

export type ExportProgress =
  | { phase: 'start'; path: string; format: ExportFormat | 'disk'; arch: AlpineArch; stage: string; layers: number }
  | { phase: 'done'; path: string; bytes: number };

export interface ExportOptions {
  /** The file to write; its extension names the format. */
  path: string;
  /** Export the image as it stood after this stage (default: all stages). */
  stage?: string;
  /** Which arch's image, for configs that build several. */
  arch?: AlpineArch;
  /** That arch's image as a build just wrote it (default: the tagged image is read). */
  built?: BuiltImage;
  /** ext4 only: bytes, or "512M"/"2G"; default the content plus room to spare. */
  size?: number | string;
  /** ext4 only: filesystem label (up to 16 bytes). */
  label?: string;
  /** ext4 only: filesystem UUID; default derived from the image with an epoch, else random. */
  uuid?: string;
  onProgress?: (event: ExportProgress) => void;
  /** Told when the export has to wait for eib gc to finish with the cache. */
  onWait?: (message: string) => void;
  signal?: AbortSignal;
}

export interface ExportResult {
  path: string;
  /** The file's format; a disk comes from outputs.disk only, never from an extension. */
  format: ExportFormat | 'disk';
  bytes: number;
  /** sha256 of the written file (tar and cpio formats). */
  digest?: Digest;
  arch: AlpineArch;
  stage: string;
  /** Manifest digest of the exported image. */
  image: Digest;
  /** initramfs only: entries written, and how many had extended attributes newc cannot hold. */
  cpio?: { entries: number; droppedXattrs: number };
  /** ext4 only. */
  ext4?: { blocks: number; inodes: number; minimumBytes: number; label?: string; uuid?: string };
  /** erofs only, with an epoch: the filesystem UUID derived from the image. */
  uuid?: string;
  /** outputs.disk only: the table, partitions and the files beside the image. */
  disk?: WrittenDisk;
}

export async function exportImage(config: Config, options: ExportOptions): Promise<ExportResult> {
  const path = resolve(options.path);
  const format = formatFromPath(path);
  const size = options.size === undefined ? undefined : parseSize(options.size);
  if (format !== 'ext4') {
    for (const [flag, value] of [['size', options.size], ['label', options.label], ['uuid', options.uuid]] as const) {
      if (value !== undefined) throw new UsageError(`--${flag} applies to ext4 images only (.ext4, .img), and ${options.path} is a ${format} file`);
    }
  }
  const image = await selectImage(config, {
    ...(options.arch === undefined ? {} : { arch: options.arch }),
    ...(options.stage === undefined ? {} : { stage: options.stage }),
    ...(options.built === undefined ? {} : { built: options.built }),
  });
  options.onProgress?.({ phase: 'start', path, format, arch: image.arch, stage: image.stage, layers: image.layers.length });
  const base = { path, format, arch: image.arch, stage: image.stage, image: image.manifest };

  let result: ExportResult;
  if (format === 'tar' || format === 'tar.gz') {
    const openers = image.layers.map((l) => () => image.layout.blobs.open(l.digest));
    const scans = rememberedScans(config.cache.dir, image.layers.map((l) => l.digest));
    const written = await writeAtomically(path, (tmp) => writeRootfsTar(openers, tmp, { gzip: format === 'tar.gz', names: image.names, scans }));
    result = { ...base, bytes: written.bytes, digest: written.digest };
  } else if (format === 'cpio' || format === 'cpio.gz') {
    const layers = image.layers.map((l) => () => image.layout.blobs.open(l.digest));
    const written = await writeAtomically(path, (tmp) => writeInitramfs({ layers, names: image.names }, tmp, { gzip: format === 'cpio.gz' }));
    result = { ...base, bytes: written.bytes, digest: written.digest, cpio: { entries: written.entries, droppedXattrs: written.droppedXattrs } };
  } else {
    // The tree is unpacked in the cache's scratch space, which eib gc empties: hold the cache while using it.
    const lock = await lockCacheShared(config.cache.dir, { ...(options.onWait ? { onWait: options.onWait } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    try {
      result = await exportFilesystem(config, options, { image, format, path, size, base });
    } finally {
      await lock.release();
    }
  }
  options.onProgress?.({ phase: 'done', path, bytes: result.bytes });
  return result;
}

interface FilesystemExport {
  image: Awaited<ReturnType<typeof selectImage>>;
  format: Exclude<ExportFormat, 'tar' | 'tar.gz' | 'cpio' | 'cpio.gz'>;
  path: string;
  size: number | undefined;
  base: Pick<ExportResult, 'path' | 'format' | 'arch' | 'stage' | 'image'>;
}

/** A filesystem image (ext4, squashfs, erofs), made in the cache's scratch space (the caller holds the cache). */
async function exportFilesystem(config: Config, options: ExportOptions, { image, format, path, size, base }: FilesystemExport): Promise<ExportResult> {
  const epoch = config.epoch;
  if (format === 'ext4') {
    const made = await writeAtomically(path, (tmp) =>
      writeExt4(image.layout.dir, image.manifest, { digests: image.layers.map((l) => l.digest), names: image.names }, tmp, {
        cacheDir: config.cache.dir,
        ...(size === undefined ? {} : { size }),
        ...(options.label === undefined ? {} : { label: options.label }),
        ...(options.uuid === undefined ? {} : { uuid: options.uuid }),
        ...(epoch === undefined ? {} : { epoch }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      }),
    );
    return {
      ...base,
      bytes: made.bytes,
      ext4: {
        blocks: made.blocks,
        inodes: made.inodes,
        minimumBytes: made.minimumBytes,
        ...(made.label === undefined ? {} : { label: made.label }),
        ...(made.uuid === undefined ? {} : { uuid: made.uuid }),
      },
    };
  }
  const made = await writeAtomically(path, (tmp) =>
    writeTreeImage(image.layout.dir, image.manifest, { digests: image.layers.map((l) => l.digest), names: image.names }, tmp, {
      format,
      cacheDir: config.cache.dir,
      ...(epoch === undefined ? {} : { epoch }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    }),
  );
  return { ...base, bytes: made.bytes, ...(made.uuid === undefined ? {} : { uuid: made.uuid }) };
}

/** Write the outputs the config names (outputs.rootfs, ext4, squashfs, erofs, initramfs, disk) from the last build; `eib build` calls this with the images it just wrote (`built`). */
export async function exportOutputs(
  config: Config,
  options: { arch?: AlpineArch; built?: ReadonlyMap<AlpineArch, BuiltImage>; onProgress?: (event: ExportProgress) => void; signal?: AbortSignal } = {},
): Promise<ExportResult[]> {
  const results: ExportResult[] = [];
  const arches = options.arch !== undefined ? [options.arch] : config.arch;
  for (const target of [config.outputs.rootfs, config.outputs.ext4, config.outputs.squashfs, config.outputs.erofs, config.outputs.initramfs]) {
    if (target === undefined) continue;
    for (const arch of arches) {
      const path = config.arch.length > 1 ? archPath(target, arch) : target;
      const built = options.built?.get(arch);
      results.push(
        await exportImage(config, {
          path,
          arch,
          ...(built === undefined ? {} : { built }),
          ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        }),
      );
    }
  }
  if (config.outputs.disk !== undefined) {
    for (const arch of arches) {
      const path = config.arch.length > 1 ? archPath(config.outputs.disk.path, arch) : config.outputs.disk.path;
      const built = options.built?.get(arch);
      const image = await selectImage(config, { arch, ...(built === undefined ? {} : { built }) });
      options.onProgress?.({ phase: 'start', path, format: 'disk', arch, stage: image.stage, layers: image.layers.length });
      const epoch = config.epoch;
      const disk = await writeDisk(config, image, path, { ...(epoch === undefined ? {} : { epoch }), ...(options.signal === undefined ? {} : { signal: options.signal }) });
      results.push({ path, format: 'disk', bytes: disk.bytes, arch, stage: image.stage, image: image.manifest, disk });
      options.onProgress?.({ phase: 'done', path, bytes: disk.bytes });
    }
  }
  return results;
}

/** With several arches, each gets its own file: rootfs.tar.gz → rootfs-aarch64.tar.gz. */
export function archPath(path: string, arch: AlpineArch): string {
  const ext = SUPPORTED_EXTENSIONS.find((e) => path.toLowerCase().endsWith(e)) ?? '';
  return `${path.slice(0, path.length - ext.length)}-${arch}${path.slice(path.length - ext.length)}`;
}
