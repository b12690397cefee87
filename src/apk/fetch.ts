/**
 * Downloads for the apk layer: http(s) GET with conditional revalidation and
 * redirects, streamed into a temporary file that is renamed into place only
 * once complete, so a cache never holds a partial file. The only module of
 * src/apk that touches the network.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type http from 'node:http';
import { createRequire } from 'node:module';
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
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
}

const MAX_REDIRECTS = 5;
// node:http and node:https are compiled when first loaded (tens of ms): only
// a download pays for them, not a build whose repositories are local.
const require = createRequire(import.meta.url);

/** GET `url` (following redirects); resolves on headers with the body unread. */
export function httpGet(url: string, headers: Record<string, string> = {}, redirects = 0): Promise<HttpGetResult> {
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (e) {
      reject(new FetchError(url, `${url}: not a valid URL`, { cause: e }));
      return;
    }
    const get =
      parsed.protocol === 'https:' ? (require('node:https') as typeof import('node:https')).get : parsed.protocol === 'http:' ? (require('node:http') as typeof http).get : undefined;
    if (!get) {
      reject(new FetchError(url, `${url}: unsupported scheme ${parsed.protocol} (use http, https or a path)`));
      return;
    }
    const req = get(parsed, { headers: { 'user-agent': 'eib', ...headers } }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && status !== 304 && location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) {
          reject(new FetchError(url, `GET ${url}: more than ${MAX_REDIRECTS} redirects`, { status }));
          return;
        }
        resolve(httpGet(new URL(location, parsed).toString(), headers, redirects + 1));
        return;
      }
      resolve({ status, headers: res.headers, body: res });
    });
    req.setTimeout(60_000, () => req.destroy(new Error('no response for 60 s')));
    req.on('error', (e) => reject(new FetchError(url, `GET ${url}: ${e.message}; check the repository URL and the network`, { cause: e })));
  });
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
