/**
 * An OCI image layout (image-layout.md, v1.1) in a directory: the directory
 * is a BlobStore root plus `oci-layout` and `index.json`. Tags are index
 * entries annotated with org.opencontainers.image.ref.name; writing a tag
 * replaces only that entry, and index.json is replaced atomically.
 */
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../oci/canonical-json.js';
import { buildManifest } from '../oci/image.js';
import { Annotation, MediaType, type Descriptor, type Digest, type ImageConfig, type ImageIndex, type ImageLayoutFile, type ImageManifest, type Platform } from '../oci/types.js';
import { BlobStore } from './blob-store.js';
import { acquireLock } from './file-lock.js';
import { StoreError } from './errors.js';
import { writeFileAtomic } from '../fs/atomic-write.js';

/** image-layout.md#indexjson-file: the ref.name grammar. */
const REF_NAME = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

export interface WriteImageInput {
  config: ImageConfig;
  /** Layer descriptors, bottom first; their blobs must already be in the layout. */
  layers: readonly Descriptor[];
  tag?: string;
  annotations?: Record<string, string>;
}

export interface WrittenImage {
  manifest: Descriptor;
  config: Descriptor;
  manifestJson: ImageManifest;
}

export class OciLayout {
  readonly dir: string;
  readonly blobs: BlobStore;
  /** Index updates of this process run one after the other. */
  private indexQueue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string) {
    this.dir = dir;
    this.blobs = new BlobStore(dir);
  }

  /** Open the layout at `dir`, creating it (and its files) when absent. */
  static async create(dir: string): Promise<OciLayout> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const layoutFile: ImageLayoutFile = { imageLayoutVersion: '1.0.0' };
    await writeFile(join(dir, 'oci-layout'), JSON.stringify(layoutFile), { flag: 'wx' }).catch(ignoreExists);
    const empty: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
    await writeFile(join(dir, 'index.json'), canonicalJson(empty), { flag: 'wx' }).catch(ignoreExists);
    return OciLayout.open(dir);
  }

  /** Open an existing layout; ELAYOUT when `dir` is not one. */
  static async open(dir: string): Promise<OciLayout> {
    let text: string;
    try {
      text = await readFile(join(dir, 'oci-layout'), 'utf8');
    } catch (e) {
      throw new StoreError('ELAYOUT', `${dir} is not an OCI image layout (no oci-layout file); run \`eib build\` to create it`, { cause: e });
    }
    let version: unknown;
    try {
      version = (JSON.parse(text) as Partial<ImageLayoutFile>).imageLayoutVersion;
    } catch (e) {
      throw new StoreError('ELAYOUT', `${join(dir, 'oci-layout')} is not valid JSON`, { cause: e });
    }
    if (version !== '1.0.0') {
      throw new StoreError('ELAYOUT', `${join(dir, 'oci-layout')} declares imageLayoutVersion ${JSON.stringify(version)}; only 1.0.0 is supported`);
    }
    return new OciLayout(dir);
  }

  async readIndex(): Promise<ImageIndex> {
    const file = join(this.dir, 'index.json');
    let index: ImageIndex;
    try {
      index = JSON.parse(await readFile(file, 'utf8')) as ImageIndex;
    } catch (e) {
      throw new StoreError('ELAYOUT', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
      throw new StoreError('ELAYOUT', `${file} is not an OCI image index (schemaVersion 2 with manifests)`);
    }
    return index;
  }

  /** Tag names in index order. */
  async tags(): Promise<string[]> {
    const index = await this.readIndex();
    return index.manifests.flatMap((d) => {
      const name = d.annotations?.[Annotation.RefName];
      return name === undefined ? [] : [name];
    });
  }

  async resolve(tag: string): Promise<Descriptor> {
    const index = await this.readIndex();
    const found = index.manifests.filter((d) => d.annotations?.[Annotation.RefName] === tag).at(-1);
    if (!found) {
      const known = await this.tags();
      throw new StoreError('ETAGMISSING', `tag "${tag}" not found in ${this.dir} (tags: ${known.length ? known.join(', ') : 'none'}); build it first`);
    }
    return found;
  }

  /** Point `tag` at `descriptor`; other index entries are kept. */
  async setTag(tag: string, descriptor: Descriptor): Promise<void> {
    await this.setTags([[tag, descriptor]]);
  }

  /** Point several tags at once, in one update of index.json. */
  async setTags(tags: readonly (readonly [string, Descriptor])[]): Promise<void> {
    for (const [tag] of tags) {
      if (!REF_NAME.test(tag)) throw new StoreError('ELAYOUT', `"${tag}" is not a valid tag: use letters, digits and . _ - : @ + between them`);
    }
    await this.updateIndex((index) => {
      for (const [tag, descriptor] of tags) {
        index.manifests = index.manifests.filter((d) => d.annotations?.[Annotation.RefName] !== tag);
        index.manifests.push({ ...descriptor, annotations: { ...descriptor.annotations, [Annotation.RefName]: tag } });
      }
    });
  }

  /** Store a manifest (checking that its blobs are present) and optionally tag it. */
  async putManifest(manifest: ImageManifest, options: { tag?: string; platform?: Platform } = {}): Promise<Descriptor> {
    for (const d of [manifest.config, ...manifest.layers]) {
      if (!(await this.blobs.has(d.digest))) {
        throw new StoreError('EBLOBMISSING', `manifest refers to blob ${d.digest} (${d.mediaType}) which is not in ${this.dir}; write it first`);
      }
    }
    const desc = await this.blobs.putJson(manifest, MediaType.ImageManifest);
    const withPlatform: Descriptor = options.platform ? { ...desc, platform: options.platform } : desc;
    if (options.tag !== undefined) await this.setTag(options.tag, withPlatform);
    await this.tidy();
    return withPlatform;
  }

  /** Write the config, build and write the manifest, and tag it. */
  async writeImage(input: WriteImageInput): Promise<WrittenImage> {
    const config = await this.blobs.putJson(input.config, MediaType.ImageConfig);
    const manifestJson = buildManifest(config, input.layers, input.annotations);
    const platform: Platform = { architecture: input.config.architecture, os: input.config.os };
    if (input.config.variant !== undefined) platform.variant = input.config.variant;
    const manifest = await this.putManifest(manifestJson, input.tag === undefined ? { platform } : { tag: input.tag, platform });
    return { manifest, config, manifestJson };
  }

  async readManifest(ref: Descriptor | Digest): Promise<ImageManifest> {
    const digest = typeof ref === 'string' ? ref : ref.digest;
    const manifest = await this.blobs.readJson<ImageManifest>(digest);
    if (manifest.mediaType !== MediaType.ImageManifest || manifest.schemaVersion !== 2) {
      throw new StoreError('ELAYOUT', `blob ${digest} is not an OCI image manifest (mediaType ${String(manifest.mediaType)})`);
    }
    return manifest;
  }

  async readConfig(manifest: ImageManifest): Promise<ImageConfig> {
    return this.blobs.readJson<ImageConfig>(manifest.config.digest);
  }

  private async updateIndex(change: (index: ImageIndex) => void): Promise<void> {
    const run = this.indexQueue.then(async () => {
      // A change that leaves index.json as it is (a no-op rebuild tagging the same image) is
      // done without the lock or a write: it takes effect at the moment of this read.
      const current = await this.readIndex();
      const changed = structuredClone(current);
      change(changed);
      if (canonicalJson(changed) === canonicalJson(current)) return;
      // Other eib processes may update the same layout: the read-change-write holds a lock on
      // oci-layout (a file never replaced, unlike index.json), so no process loses another's tag.
      const lock = await acquireLock(join(this.dir, 'oci-layout'), 'exclusive');
      try {
        const index = await this.readIndex();
        change(index);
        await writeFileAtomic(join(this.dir, 'index.json'), canonicalJson(index));
      } finally {
        await lock.release();
      }
    });
    this.indexQueue = run.catch(() => undefined);
    return run;
  }

  /** The store's temp folder is not part of the layout; drop it when empty. */
  private async tidy(): Promise<void> {
    await rmdir(this.blobs.tmpDir).catch(() => undefined);
  }
}

function ignoreExists(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
}
