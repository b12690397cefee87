/**
 * Downloads for the apk layer: GETs through the network seam it is given
 * (eib's HTTP layer in src/remote/http.ts: proxies, TLS, redirects, retries,
 * bounded silence), streamed into a temporary file that is renamed into
 * place only once complete, so a cache never holds a partial file.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EibError } from '../errors.js';
import { publishFile, tempPathBeside } from '../fs/atomic-write.js';

export class FetchError extends EibError<'EFETCH'> {
  readonly status: number | undefined;
  readonly url: string;
  constructor(url: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super('EFETCH', message, options.cause === undefined ? {} : { cause: options.cause });
    this.url = url;
    this.status = options.status;
  }
}

export interface Progress {
  url: string;
  received: number;
  /** From Content-Length or the index's S: field, when known. */
  total?: number;
}

export interface HttpGetResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
}

/** The apk layer's one way to the network: GET a URL (redirects followed, failures retried); resolves on the headers, body unread. */
export type HttpGet = (url: string, headers?: Readonly<Record<string, string>>) => Promise<HttpGetResult>;

/** GET `url` through `get`; a failure becomes a FetchError naming the URL. */
export async function httpGet(get: HttpGet | undefined, url: string, headers: Record<string, string> = {}): Promise<HttpGetResult> {
  if (get === undefined) throw new FetchError(url, `GET ${url}: no network access was given to the package fetcher`);
  try {
    return await get(url, headers);
  } catch (e) {
    throw new FetchError(url, `GET ${url}: ${(e as Error).message}; check the repository URL and the network`, { cause: e });
  }
}

/** A FetchError for an unexpected HTTP status, naming the URL. */
export function statusError(url: string, res: HttpGetResult): FetchError {
  res.body.resume();
  const hint = res.status === 404 ? ' (not found: check the repository URL and arch)' : '';
  return new FetchError(url, `GET ${url}: HTTP ${res.status}${hint}`, { status: res.status });
}

/**
 * Stream `body` into `dest` through a temporary sibling, counting bytes;
 * `check` runs on the complete temporary file before the rename.
 */
export async function writeAtomically(
  body: Readable,
  dest: string,
  options: { url: string; total?: number; onProgress?: (p: Progress) => void; check?: (tmp: string, size: number) => Promise<void> },
): Promise<number> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = tempPathBeside(dest);
  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      options.onProgress?.({ url: options.url, received, ...(options.total === undefined ? {} : { total: options.total }) });
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, counter, createWriteStream(tmp, { flags: 'wx' }));
    await options.check?.(tmp, received);
    await publishFile(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof EibError) throw e;
    throw new FetchError(options.url, `downloading ${options.url}: ${(e as Error).message}`, { cause: e });
  }
  return received;
}
