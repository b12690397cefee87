/**
 * apk repositories: `<url>/<arch>/APKINDEX.tar.gz` plus the .apk files next
 * to it, where url is http(s) or an absolute path. Remote indexes are cached
 * under <cacheDir>/apk/indexes/ and revalidated with ETag/If-Modified-Since;
 * packages are cached under <cacheDir>/apk/packages/ by checksum.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EibError, IntegrityError } from '../errors.js';
import { FetchError, httpGet, statusError, writeAtomically, type HttpGet, type Progress } from './fetch.js';
import { readApkIndex } from './index-file.js';
import { archivedPackagePath } from './archive.js';
import type { PackageInfo } from './types.js';
import { exists, statOrUndefined } from '../fs/stat.js';

export type { HttpGet, Progress } from './fetch.js';

export interface Repository {
  /** As configured: an http(s) URL or an absolute path. */
  url: string;
  arch: string;
  /** The index's DESCRIPTION, e.g. "v3.20.3-1-g…". */
  description: string;
  packages: PackageInfo[];
  /** Repository tag for pinning ("name@tag" in world selects it); untagged repositories are the default. */
  tag?: string;
  /** The trusted key that signed the index, absent when accepted untrusted. */
  signedBy?: string;
  /** sha256:<hex> of the APKINDEX.tar.gz this was read from: what a lock resolved against. */
  indexDigest?: string;
}

export interface OpenRepositoryOptions {
  url: string;
  arch: string;
  keys: ReadonlyMap<string, KeyObject>;
  cacheDir: string;
  allowUntrusted?: boolean;
  /** Use the cached index only; never touch the network. */
  offline?: boolean;
  /** The network, for http(s) repositories (src/remote/http.ts). */
  http?: HttpGet;
  tag?: string;
  onProgress?: (p: Progress) => void;
  onWarning?: (message: string) => void;
}

export class RepositoryError extends EibError<'EREPO'> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('EREPO', message, options);
  }
}

const isRemote = (url: string): boolean => /^https?:\/\//.test(url);
const trimSlash = (url: string): string => url.replace(/\/+$/, '');

export function indexUrl(url: string, arch: string): string {
  return isRemote(url) ? `${trimSlash(url)}/${arch}/APKINDEX.tar.gz` : join(url, arch, 'APKINDEX.tar.gz');
}

export function packageUrl(repo: Pick<Repository, 'url' | 'arch'>, pkg: Pick<PackageInfo, 'name' | 'version'>): string {
  const file = `${pkg.name}-${pkg.version}.apk`;
  return isRemote(repo.url) ? `${trimSlash(repo.url)}/${repo.arch}/${encodeURIComponent(file)}` : join(repo.url, repo.arch, file);
}

interface CacheMeta {
  url: string;
  etag?: string;
  lastModified?: string;
}

/** Fetch (or revalidate) the index when remote; returns the local file to read. */
async function localIndex(o: OpenRepositoryOptions): Promise<string> {
  const url = indexUrl(o.url, o.arch);
  if (!isRemote(o.url)) return url;
  const id = createHash('sha256').update(url).digest('hex').slice(0, 32);
  const file = join(o.cacheDir, 'apk', 'indexes', `${id}.APKINDEX.tar.gz`);
  const metaFile = `${file}.json`;
  const meta = await readFile(metaFile, 'utf8')
    .then((t) => JSON.parse(t) as CacheMeta)
    .catch(() => undefined);
  const cached = meta !== undefined && (await exists(file));
  if (o.offline) {
    if (!cached) throw new RepositoryError(`${url}: not in the cache and offline mode forbids downloading it; run once with network access first`);
    return file;
  }
  const headers: Record<string, string> = {};
  if (cached && meta.etag) headers['if-none-match'] = meta.etag;
  if (cached && meta.lastModified) headers['if-modified-since'] = meta.lastModified;
  const res = await httpGet(o.http, url, headers);
  if (res.status === 304 && cached) {
    res.body.resume();
    return file;
  }
  if (res.status !== 200) throw statusError(url, res);
  const length = Number(res.headers['content-length']);
  await writeAtomically(res.body, file, {
    url,
    ...(Number.isFinite(length) && length > 0 ? { total: length } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    // Verify before the new index replaces a good cached one.
    check: async (tmp) => {
      await readApkIndex(createReadStream(tmp), { what: url, repository: o.url, keys: o.keys, allowUntrusted: o.allowUntrusted ?? false });
    },
  });
  const next: CacheMeta = { url };
  const etag = res.headers.etag;
  const lastModified = res.headers['last-modified'];
  if (etag) next.etag = etag;
  if (lastModified) next.lastModified = lastModified;
  await writeFile(metaFile, JSON.stringify(next));
  return file;
}

/** Load a repository's index (downloading or revalidating it when remote) and verify its signature. */
export async function openRepository(o: OpenRepositoryOptions): Promise<Repository> {
  const url = indexUrl(o.url, o.arch);
  const file = await localIndex(o);
  let source;
  try {
    await stat(file);
    source = createReadStream(file);
  } catch (e) {
    throw new RepositoryError(`${url}: cannot read the index (${(e as Error).message}); check the repository path and arch`, { cause: e });
  }
  const digest = createHash('sha256');
  const hashed = (async function* () {
    for await (const chunk of source) {
      digest.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  })();
  const index = await readApkIndex(hashed, {
    what: url,
    repository: o.url,
    keys: o.keys,
    allowUntrusted: o.allowUntrusted ?? false,
    ...(o.onWarning ? { onWarning: o.onWarning } : {}),
  });
  const repo: Repository = { url: o.url, arch: o.arch, description: index.description, packages: index.packages, indexDigest: `sha256:${digest.digest('hex')}` };
  if (o.tag !== undefined) repo.tag = o.tag;
  if (index.signedBy !== undefined) repo.signedBy = index.signedBy;
  return repo;
}

export interface FetchPackageOptions {
  cacheDir: string;
  offline?: boolean;
  /** The network, for http(s) repositories (src/remote/http.ts). */
  http?: HttpGet;
  onProgress?: (p: Progress) => void;
}

/**
 * The local path of `pkg`'s .apk, downloading (or copying) it into the cache
 * when missing. The size is checked against the index's S:; the content is
 * verified by whoever reads the package (C:, datahash, file checksums).
 */
export async function fetchPackage(repo: Repository, pkg: PackageInfo, options: FetchPackageOptions): Promise<string> {
  const dest = archivedPackagePath(options.cacheDir, pkg);
  const existing = await statOrUndefined(dest);
  if (existing && (pkg.size === 0 || existing.size === pkg.size)) return dest;
  const url = packageUrl(repo, pkg);
  const checkSize = async (_tmp: string, size: number): Promise<void> => {
    if (pkg.size > 0 && size !== pkg.size) {
      throw new IntegrityError('EBADSIZE', `${url}: ${size} bytes, but the index says ${pkg.size}; the repository is inconsistent or the download was cut`);
    }
  };
  const progress = options.onProgress ? { onProgress: options.onProgress } : {};
  const total = pkg.size > 0 ? { total: pkg.size } : {};
  if (!isRemote(repo.url)) {
    let source;
    try {
      await stat(url);
      source = createReadStream(url);
    } catch (e) {
      throw new FetchError(url, `${url}: cannot read the package (${(e as Error).message})`, { cause: e });
    }
    await writeAtomically(source, dest, { url, ...total, ...progress, check: checkSize });
    return dest;
  }
  if (options.offline) throw new RepositoryError(`${url}: not in the cache and offline mode forbids downloading it`);
  const res = await httpGet(options.http, url);
  if (res.status !== 200) throw statusError(url, res);
  await writeAtomically(res.body, dest, { url, ...total, ...progress, check: checkSize });
  return dest;
}
