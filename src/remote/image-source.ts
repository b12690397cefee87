/**
 * What a push reads: a tagged manifest (or index) and the blobs it names.
 * `layoutSource` reads an OCI image layout directory (image-layout.md):
 * index.json → the descriptor annotated with the tag → blobs/<alg>/<hex>.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EibError, IntegrityError } from '../errors.js';
import { Annotation, type Descriptor, type Digest, type ImageIndex } from '../oci/types.js';
import { sha256Digest } from './verify.js';

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

export class ImageNotFoundError extends EibError<'ENOIMAGE'> {
  constructor(message: string) {
    super('ENOIMAGE', message);
  }
}

/** blobs/<algorithm>/<encoded> inside a layout. */
export function blobPath(dir: string, digest: Digest): string {
  const i = digest.indexOf(':');
  const algorithm = digest.slice(0, i);
  const encoded = digest.slice(i + 1);
  if (!/^[a-z0-9]+$/.test(algorithm) || !/^[a-zA-Z0-9=_-]+$/.test(encoded)) {
    throw new IntegrityError('EINTEGRITY', `"${digest}" is not a valid digest`);
  }
  return join(dir, 'blobs', algorithm, encoded);
}

/** Small JSON blobs (manifests) read whole and checked against their digest. */
export async function readSmallBlob(dir: string, descriptor: Descriptor): Promise<Buffer> {
  const bytes = await readFile(blobPath(dir, descriptor.digest));
  if (bytes.length !== descriptor.size) {
    throw new IntegrityError('EBADSIZE', `${blobPath(dir, descriptor.digest)} has ${bytes.length} bytes, its descriptor says ${descriptor.size}`);
  }
  if (descriptor.digest.startsWith('sha256:') && sha256Digest(bytes) !== descriptor.digest) {
    throw new IntegrityError('EINTEGRITY', `${blobPath(dir, descriptor.digest)} does not match its digest ${descriptor.digest}; the layout is corrupt, rebuild it`);
  }
  return bytes;
}

/** The image tagged `tag` in the OCI layout at `dir`. */
export function layoutSource(dir: string, tag: string): ImageSource {
  return {
    async manifest() {
      let index: ImageIndex;
      try {
        index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ImageNotFoundError(`no image tagged ${tag} in ${dir}; run eib build first`);
        throw new EibError('ELAYOUT', `cannot read ${join(dir, 'index.json')}: ${(e as Error).message}`, { cause: e });
      }
      const descriptor = (index.manifests ?? []).find((m) => m.annotations?.[Annotation.RefName] === tag);
      if (!descriptor) throw new ImageNotFoundError(`no image tagged ${tag} in ${dir}; run eib build first`);
      return { descriptor, bytes: await readSmallBlob(dir, descriptor) };
    },
    async blob(digest) {
      const path = blobPath(dir, digest);
      const st = await stat(path).catch((e: unknown) => {
        throw new EibError('ELAYOUT', `the layout ${dir} lacks blob ${digest} (${(e as NodeJS.ErrnoException).code ?? String(e)}); rebuild the image`, { cause: e });
      });
      return {
        size: st.size,
        open: (range) => createReadStream(path, range ? { start: range.start, end: range.end } : {}),
      };
    },
  };
}
