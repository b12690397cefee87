/**
 * HTTP(S) to one registry: scheme discovery (https, plain http only for
 * local or insecure registries), TLS trust (system CAs, NODE_EXTRA_CA_CERTS,
 * an extra CA file), authentication on 401, redirects (credentials never
 * follow to another origin), and bounded retries with backoff on 5xx, 429
 * (Retry-After) and dropped connections. Bodies are streams, never buffered.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { Authenticator } from './auth.js';
import { findCredential, type Credential } from './credentials.js';
import { RegistryError } from './errors.js';
import { apiHost, isLocalRegistry } from './reference.js';
import type { DistributionErrors } from '../oci/types.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TransportOptions {
  /** Allow plain http (and unverified TLS) for this registry. */
  readonly insecure?: boolean;
  /** Path of an extra CA certificate (PEM) to trust, besides the system's. */
  readonly ca?: string;
  /** Attempts per request on retryable failures (default 5). */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles per attempt (default 500 ms). */
  readonly retryDelayMs?: number;
  /** Longest wait honoured from Retry-After or backoff (default 30 s). */
  readonly maxRetryDelayMs?: number;
  /** Idle socket timeout (default 60 s). */
  readonly timeoutMs?: number;
  /** Credential lookup; default: auth.json / docker config.json for the host. */
  readonly credential?: () => Promise<Credential | undefined>;
  /** Environment for credential lookup (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface HttpRequest {
  readonly method: Method;
  /** A path under the registry ("/v2/…") or an absolute URL (an upload Location). */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A small body, or a factory for a fresh stream on each attempt. */
  readonly body?: Buffer | (() => Readable);
  /** Token scopes this request needs ("repository:name:pull,push"). */
  readonly scopes: readonly string[];
  /** Statuses that are success; anything else is an error. */
  readonly expect: readonly number[];
  /** Retry on 5xx/429/network errors (default true). */
  readonly retry?: boolean;
  /** What is being done, for messages: "uploading blob sha256:…". */
  readonly what: string;
}

const RETRYABLE_NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);
const TLS_VERIFY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** An error of the body source (a local file), which retrying cannot fix. */
class SourceError extends Error {
  constructor(readonly inner: unknown) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isRetryableNetworkError(e: unknown): boolean {
  if (e instanceof SourceError || e instanceof RegistryError) return false;
  const code = errorCode(e);
  return (code !== undefined && RETRYABLE_NETWORK.has(code)) || /socket hang up|aborted/i.test((e as Error)?.message ?? '');
}

function isProtocolMismatch(e: unknown): boolean {
  return errorCode(e) === 'EPROTO' || /wrong version number|packet length too long|unknown protocol/i.test((e as Error)?.message ?? '');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Retry-After: delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Read a stream that must be small, whole; past `limit` bytes it is destroyed and `tooLarge()` thrown. */
export async function readCapped(stream: Readable, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      stream.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Read a small response body (errors, tokens, tag lists), capped. */
export async function readSmallBody(res: http.IncomingMessage, limit = 1 << 20): Promise<string> {
  const body = await readCapped(res, limit, () => new RegistryError('EREGISTRY', `a registry response is larger than ${limit} bytes`));
  return body.toString('utf8');
}

/** Bodies eib does not read (redirects, retried errors, answers to PUTs) are drained up to this, then the connection is closed. */
const DISCARD_LIMIT = 64 << 10;

/**
 * Let a response's body go without reading it: drained so the connection
 * can be reused, but closed once more than DISCARD_LIMIT bytes come, so an
 * endless body is not read forever in the background.
 */
export function discardBody(res: http.IncomingMessage): void {
  let size = 0;
  res.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > DISCARD_LIMIT) res.destroy();
  });
  res.on('error', () => undefined);
  res.resume();
}

function registryCodes(body: string): { codes: string[]; text: string } {
  try {
    const parsed = JSON.parse(body) as DistributionErrors;
    if (Array.isArray(parsed.errors)) {
      const codes = parsed.errors.map((e) => e.code);
      const text = parsed.errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ');
      return { codes, text };
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return { codes: [], text: body.trim().slice(0, 200) };
}

export class Transport {
  readonly registry: string;
  readonly allowHttp: boolean;
  private readonly options: TransportOptions;
  private readonly auth: Authenticator;
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private basePromise: Promise<URL> | undefined;

  constructor(registry: string, options: TransportOptions = {}) {
    this.registry = registry;
    this.options = options;
    this.allowHttp = options.insecure === true || isLocalRegistry(registry);
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ...this.tlsOptions() });
    this.auth = new Authenticator({
      registry,
      credential: options.credential ?? (() => findCredential(registry, options.env ?? process.env)),
      fetchToken: (url, init) => this.fetchToken(url, init),
      allowHttpRealm: this.allowHttp,
    });
  }

  private tlsOptions(): https.AgentOptions {
    if (this.options.insecure) return { rejectUnauthorized: false };
    if (!this.options.ca) return {};
    // Passing `ca` replaces Node's default store, so add back the system
    // roots and NODE_EXTRA_CA_CERTS ourselves.
    const ca: string[] = [...rootCertificates];
    const extra = process.env['NODE_EXTRA_CA_CERTS'];
    for (const file of [extra, this.options.ca]) {
      if (!file) continue;
      try {
        ca.push(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new RegistryError('ETLS', `cannot read the CA certificate ${file} for ${this.registry}: ${(e as Error).message}`, { cause: e });
      }
    }
    return { ca };
  }

  /** Close idle keep-alive sockets. */
  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }

  /** The registry's base URL, found by pinging /v2/ (https first). */
  base(): Promise<URL> {
    this.basePromise ??= this.discover();
    this.basePromise.catch(() => (this.basePromise = undefined));
    return this.basePromise;
  }

  private async discover(): Promise<URL> {
    const host = apiHost(this.registry);
    const secure = new URL(`https://${host}/`);
    try {
      await this.ping(secure);
      return secure;
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      if (isProtocolMismatch(e) || (this.allowHttp && errorCode(e) === 'ECONNRESET')) {
        if (!this.allowHttp) {
          throw new RegistryError('EINSECURE', `${this.registry} does not speak https (${(e as Error).message.split('\n')[0]}); if it is a plain-http registry you trust, set \`registry.insecure: true\` in eib.yaml`, { cause: e });
        }
        const plain = new URL(`http://${host}/`);
        try {
          await this.ping(plain);
        } catch (e2) {
          throw this.networkError(`connecting to ${this.registry}`, e2);
        }
        return plain;
      }
      throw this.networkError(`connecting to ${this.registry}`, e);
    }
  }

  private async ping(base: URL): Promise<void> {
    const url = new URL('/v2/', base);
    const res = await this.withRetries(true, () => this.send('GET', url, { Accept: 'application/json' }, undefined));
    const body = await readSmallBody(res).catch(() => '');
    if (res.statusCode === 200) return;
    if (res.statusCode === 401) {
      this.auth.learn(res.headers['www-authenticate']);
      return;
    }
    throw new RegistryError('EREGISTRY', `${this.registry} is not an OCI registry: GET ${url.pathname} answered ${res.statusCode} ${registryCodes(body).text}`, { status: res.statusCode ?? 0 });
  }

  private networkError(what: string, e: unknown): RegistryError {
    if (e instanceof RegistryError) return e;
    if (e instanceof SourceError) return new RegistryError('ENETWORK', `${what}: reading the local content failed: ${e.message}`, { cause: e.inner });
    const code = errorCode(e);
    if (code !== undefined && TLS_VERIFY.has(code)) {
      return new RegistryError('ETLS', `${what}: the TLS certificate of ${this.registry} cannot be verified (${code}); trust its CA with \`registry.ca: <file.pem>\` in eib.yaml or NODE_EXTRA_CA_CERTS`, { cause: e });
    }
    return new RegistryError('ENETWORK', `${what}: ${this.registry}: ${(e as Error)?.message ?? String(e)}${code && !(e as Error).message?.includes(code) ? ` (${code})` : ''}`, { cause: e });
  }

  /** Run `attempt` with bounded retries on dropped connections. */
  private async withRetries<T>(retry: boolean, attempt: (n: number) => Promise<T>): Promise<T> {
    const max = retry ? (this.options.maxAttempts ?? 5) : 1;
    for (let n = 1; ; n++) {
      try {
        return await attempt(n);
      } catch (e) {
        if (n >= max || !isRetryableNetworkError(e)) throw e;
        await sleep(this.backoff(n));
      }
    }
  }

  backoff(attempt: number, retryAfter?: number): number {
    const cap = this.options.maxRetryDelayMs ?? 30_000;
    if (retryAfter !== undefined) return Math.min(cap, retryAfter);
    const base = (this.options.retryDelayMs ?? 500) * 2 ** (attempt - 1);
    return Math.min(cap, base / 2 + Math.random() * (base / 2));
  }

  /**
   * Send a request and return the response for the caller to consume;
   * the status is one of `expect`, else a RegistryError is thrown.
   */
  async request(req: HttpRequest): Promise<http.IncomingMessage> {
    const base = await this.base();
    const max = req.retry === false ? 1 : (this.options.maxAttempts ?? 5);
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      let url = new URL(req.url, base);
      let method = req.method;
      let body = req.body;
      let res: http.IncomingMessage;
      let sentAuth: string | undefined;
      try {
        sentAuth = await this.auth.header(req.scopes);
        const headers: Record<string, string> = { ...req.headers };
        if (sentAuth) headers['Authorization'] = sentAuth;
        res = await this.send(method, url, headers, body);
        // Follow redirects; credentials go to the registry's origin only.
        for (let hops = 0; REDIRECTS.has(res.statusCode ?? 0) && res.headers.location; hops++) {
          discardBody(res);
          if (hops >= MAX_REDIRECTS) throw new RegistryError('EREGISTRY', `${req.what}: too many redirects from ${this.registry}`);
          const next = new URL(res.headers.location, url);
          if (next.protocol === 'http:' && url.protocol === 'https:' && !this.allowHttp) {
            throw new RegistryError('EINSECURE', `${req.what}: ${this.registry} redirected to plain http (${next.origin}); refusing`);
          }
          if (res.statusCode === 303) {
            method = 'GET';
            body = undefined;
          }
          url = next;
          const redirected: Record<string, string> = { ...req.headers };
          if (url.origin === base.origin && sentAuth) redirected['Authorization'] = sentAuth;
          res = await this.send(method, url, redirected, body);
        }
      } catch (e) {
        if (attempt < max && isRetryableNetworkError(e)) {
          await sleep(this.backoff(attempt));
          continue;
        }
        throw this.networkError(req.what, e);
      }
      const status = res.statusCode ?? 0;
      if (req.expect.includes(status)) return res;
      if (status === 401 && url.origin === base.origin && !authRetried) {
        discardBody(res);
        authRetried = true;
        if (await this.auth.challenge(res.headers['www-authenticate'], req.scopes, sentAuth)) {
          attempt--;
          continue;
        }
        throw new RegistryError('EAUTH', `${req.what}: ${await this.auth.describeFailure()}`, { status });
      }
      if ((status === 429 || status >= 500) && attempt < max) {
        discardBody(res);
        await sleep(this.backoff(attempt, retryAfterMs(res.headers['retry-after'] as string | undefined)));
        continue;
      }
      const text = method === 'HEAD' ? { codes: [], text: '' } : registryCodes(await readSmallBody(res, 64 << 10).catch(() => ''));
      const detail = `${url.origin === base.origin ? this.registry : url.origin} answered ${status}${text.text ? ` (${text.text})` : ''}`;
      if (status === 401) throw new RegistryError('EAUTH', `${req.what}: ${await this.auth.describeFailure()}`, { status, registryCodes: text.codes });
      if (status === 403) {
        throw new RegistryError('EAUTH', `${req.what}: access denied: ${detail}; check that your account may push to this repository`, { status, registryCodes: text.codes });
      }
      if (status === 404) throw new RegistryError('ENOTFOUND', `${req.what}: ${detail}`, { status, registryCodes: text.codes });
      throw new RegistryError('EREGISTRY', `${req.what}: ${detail}`, { status, registryCodes: text.codes });
    }
  }

  private send(method: Method, url: URL, headers: Record<string, string>, body: Buffer | (() => Readable) | undefined): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      if (!secure && !this.allowHttp && !isLocalRegistry(url.host)) {
        reject(new RegistryError('EINSECURE', `refusing plain http to ${url.host}; set \`registry.insecure: true\` in eib.yaml to allow it`));
        return;
      }
      const all: Record<string, string> = { 'User-Agent': 'eib', ...headers };
      if (body === undefined && (method === 'PUT' || method === 'POST' || method === 'PATCH')) all['Content-Length'] = '0';
      if (Buffer.isBuffer(body)) all['Content-Length'] = String(body.length);
      const mod = secure ? https : http;
      const req = mod.request(url, { method, headers: all, agent: secure ? this.httpsAgent : this.httpAgent });
      req.setTimeout(this.options.timeoutMs ?? 60_000, () => req.destroy(Object.assign(new Error(`no answer from ${url.host} for ${(this.options.timeoutMs ?? 60_000) / 1000} s`), { code: 'ETIMEDOUT' })));
      let source: Readable | undefined;
      req.on('error', (e) => {
        source?.destroy();
        reject(e);
      });
      req.on('response', (res) => {
        // An early answer (401, 413, …) ends the upload of the body.
        if (source && !source.readableEnded) {
          source.unpipe(req);
          source.destroy();
        }
        resolve(res);
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        try {
          source = body();
        } catch (e) {
          req.destroy(new SourceError(e));
          return;
        }
        source.on('error', (e) => req.destroy(new SourceError(e)));
        source.pipe(req);
      }
    });
  }

  private async fetchToken(url: URL, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
    const res = await this.withRetries(true, () =>
      this.send(init.method, url, init.headers, init.body === undefined ? undefined : Buffer.from(init.body)),
    ).catch((e: unknown) => {
      throw this.networkError(`getting a token for ${this.registry} from ${url.origin}`, e);
    });
    return { status: res.statusCode ?? 0, body: await readSmallBody(res) };
  }
}
