/**
 * What a push reads: a tagged manifest (or index) and the blobs it names.
 * `layoutSource` reads an OCI image layout directory through src/store.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { EibError, IntegrityError } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { StoreError } from '../store/errors.js';
import { OciLayout } from '../store/layout.js';

export interface SourceBlob {
  readonly size: number;
  /** A fresh stream of bytes [start, end] (inclusive), or all of it. */
  open(range?: { start: number; end: number }): Readable;
}

export interface ImageSource {
  /** The tagged manifest or index: its descriptor and exact bytes. */
  manifest(): Promise<{ descriptor: Descriptor; bytes: Buffer }>;
  blob(digest: Digest): Promise<SourceBlob>;
}

/** The image to push is not there (not built yet). */
export class ImageNotFoundError extends EibError<'ENOIMAGE'> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ENOIMAGE', message, options);
  }
}

/** The image tagged `tag` in the OCI layout at `dir`. */
export function layoutSource(dir: string, tag: string): ImageSource {
  const notBuilt = (cause: unknown): ImageNotFoundError => new ImageNotFoundError(`no image tagged ${tag} in ${dir}; run eib build first`, { cause });
  let layout: Promise<OciLayout> | undefined;
  const open = (): Promise<OciLayout> => (layout ??= OciLayout.open(dir));
  return {
    async manifest() {
      let descriptor: Descriptor;
      try {
        descriptor = await (await open()).resolve(tag);
      } catch (e) {
        if (e instanceof StoreError && (e.code === 'ETAGMISSING' || e.code === 'ELAYOUT')) throw notBuilt(e);
        throw e;
      }
      // Manifests are small; read whole (the store verifies the digest).
      const bytes = await (await open()).blobs.readBytes(descriptor.digest);
      if (bytes.length !== descriptor.size || digestOf(bytes) !== descriptor.digest) {
        throw new IntegrityError('EINTEGRITY', `the manifest ${descriptor.digest} in ${dir} does not match its descriptor; rebuild the image`);
      }
      return { descriptor, bytes };
    },
    async blob(digest) {
      const store = (await open()).blobs;
      const size = await store.size(digest);
      const path = store.path(digest);
      return { size, open: (range) => createReadStream(path, range ? { start: range.start, end: range.end } : {}) };
    },
  };
}
