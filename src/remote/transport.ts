/**
 * HTTP(S) to one registry, over the shared HTTP layer (http.ts: proxies,
 * TLS, redirects, bounded silence): scheme discovery (https, plain http
 * only for local or insecure registries), authentication on 401, and the
 * retry rule (retry.ts) applied to each request within the budget of the
 * operation it belongs to. Bodies are streams, never buffered.
 */
import type http from 'node:http';
import type { Readable } from 'node:stream';
import { Authenticator } from './auth.js';
import { findCredential, type Credential } from './credentials.js';
import { RegistryError } from './errors.js';
import { HttpClient, SourceError, discardBody, readCapped, type Method } from './http.js';
import { redact } from './proxy.js';
import { apiHost, isLocalRegistry } from './reference.js';
import { RetryBudget, errorCode, type RetryPolicy } from './retry.js';
import type { DistributionErrors } from '../oci/types.js';

export type { Method } from './http.js';

export interface TransportOptions extends RetryPolicy {
  /** Allow plain http (and unverified TLS) for this registry. */
  readonly insecure?: boolean;
  /** Path of an extra CA certificate (PEM) to trust, besides the system's. */
  readonly ca?: string;
  /** Silence after which a request fails (default 20 s; a notice comes after 5 s). */
  readonly timeoutMs?: number;
  /** Silence after which the user is told what eib waits for (default 5 s). */
  readonly warnAfterMs?: number;
  /** Where notices about long waits go (default: a warning on stderr). */
  readonly onWaiting?: (message: string) => void;
  /** Credential lookup; default: auth.json / docker config.json for the host. */
  readonly credential?: () => Promise<Credential | undefined>;
  /** Environment for credential lookup and proxies (default process.env). */
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
  /**
   * The retry budget of the operation this request belongs to (default: a
   * budget of its own); `false` for a request whose failure only the caller
   * can repair (a half-sent upload), which is then tried once.
   */
  readonly retry?: RetryBudget | false;
  /** What is being done, for messages: "uploading blob sha256:…". */
  readonly what: string;
}

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

/** Silence allowed after an upload (the registry hashes and stores the blob before answering). */
const UPLOAD_ANSWER_MS = 120_000;

/** Errors of a server that answered, in another protocol than asked (HTTP parser errors, a reset after the request). */
const ANSWERED_CODES = new Set(['ECONNRESET', 'HPE_INVALID_CONSTANT', 'HPE_INVALID_VERSION', 'HPE_INVALID_STATUS']);

function isProtocolMismatch(e: unknown): boolean {
  return errorCode(e) === 'EPROTO' || /wrong version number|packet length too long|unknown protocol/i.test((e as Error)?.message ?? '');
}

/** Read a small response body (errors, tokens, tag lists), capped. */
export async function readSmallBody(res: http.IncomingMessage, limit = 1 << 20): Promise<string> {
  const body = await readCapped(res, limit, () => new RegistryError('EREGISTRY', `a registry response is larger than ${limit} bytes`));
  return body.toString('utf8');
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
  readonly http: HttpClient;
  private readonly options: TransportOptions;
  private readonly auth: Authenticator;
  private basePromise: Promise<URL> | undefined;

  constructor(registry: string, options: TransportOptions = {}) {
    this.registry = registry;
    this.options = options;
    this.allowHttp = options.insecure === true || isLocalRegistry(registry);
    try {
      this.http = new HttpClient(options);
    } catch (e) {
      throw new RegistryError('ETLS', `${(e as Error).message} (for ${registry})`, { cause: e });
    }
    this.auth = new Authenticator({
      registry,
      credential: options.credential ?? (() => findCredential(registry, options.env ?? process.env)),
      fetchToken: (url, init) => this.fetchToken(url, init),
      allowHttpRealm: this.allowHttp,
    });
  }

  /** A retry budget for one operation (a blob push, a request); `what` names it in notices. */
  budget(what: string): RetryBudget {
    return new RetryBudget(this.options, what, (m) => this.http.notice(m));
  }

  /** Close idle keep-alive sockets. */
  close(): void {
    this.http.close();
  }

  /** The registry's base URL, found by pinging /v2/ (https first, but for local and insecure registries: see discover). */
  base(): Promise<URL> {
    this.basePromise ??= this.discover();
    this.basePromise.catch(() => (this.basePromise = undefined));
    return this.basePromise;
  }

  private async discover(): Promise<URL> {
    const host = apiHost(this.registry);
    const secure = new URL(`https://${host}/`);
    const plain = new URL(`http://${host}/`);
    if (this.allowHttp) {
      // A local or insecure registry is asked over plain http first: it
      // usually speaks it, and setting up TLS (loading the system's CA
      // store) costs about 50 ms, a fifth of pushing a small image. One
      // that answers http with an error (a TLS server does: "client sent
      // an HTTP request to an HTTPS server") is asked over https; one that
      // does not answer at all is not asked again.
      try {
        await this.ping(plain);
        return plain;
      } catch (e) {
        if (!(e instanceof RegistryError) && !isProtocolMismatch(e) && !ANSWERED_CODES.has(errorCode(e) ?? '')) throw this.networkError(`connecting to ${this.registry}`, e);
        try {
          await this.ping(secure);
          return secure;
        } catch (e2) {
          // Not TLS either: what plain http said is the better message; else the https failure (a certificate) is.
          throw this.networkError(`connecting to ${this.registry}`, isProtocolMismatch(e2) ? e : e2);
        }
      }
    }
    try {
      await this.ping(secure);
      return secure;
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      if (isProtocolMismatch(e)) {
        throw new RegistryError('EINSECURE', `${this.registry} does not speak https (${(e as Error).message.split('\n')[0]}); if it is a plain-http registry you trust, set \`registry.insecure: true\` in eib.yaml`, { cause: e });
      }
      throw this.networkError(`connecting to ${this.registry}`, e);
    }
  }

  private async ping(base: URL): Promise<void> {
    const url = new URL('/v2/', base);
    const { res } = await this.attempts(this.budget(`connecting to ${this.registry}`), () => this.http.send({ method: 'GET', url, headers: { Accept: 'application/json' }, redirects: false, guard: this.guard }));
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
    const message = redact((e as Error)?.message ?? String(e));
    return new RegistryError('ENETWORK', `${what}: ${this.registry}: ${message}${code && !message.includes(code) ? ` (${code})` : ''}`, { cause: e });
  }

  /** Plain http only to local or insecure registries (redirect targets included). */
  private readonly guard = (url: URL): void => {
    if (url.protocol === 'http:' && !this.allowHttp && !isLocalRegistry(url.host)) {
      throw new RegistryError('EINSECURE', `refusing plain http to ${url.host}; set \`registry.insecure: true\` in eib.yaml to allow it`);
    }
  };

  /** Run `attempt` again on network failures while the budget allows. */
  private async attempts<T>(budget: RetryBudget | false, attempt: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await attempt();
      } catch (e) {
        if (budget === false || !(await budget.again({ error: e }))) throw e;
      }
    }
  }

  /**
   * Send a request and return the response for the caller to consume;
   * the status is one of `expect`, else a RegistryError is thrown.
   */
  async request(req: HttpRequest): Promise<http.IncomingMessage> {
    const base = await this.base();
    const budget = req.retry === undefined ? this.budget(req.what) : req.retry;
    let authRetried = false;
    for (;;) {
      let sentAuth: string | undefined;
      let sent;
      try {
        sentAuth = await this.auth.header(req.scopes);
        const headers: Record<string, string> = { ...req.headers };
        if (sentAuth) headers['Authorization'] = sentAuth;
        sent = await this.http.send({
          method: req.method,
          url: new URL(req.url, base),
          headers,
          ...(req.body === undefined ? {} : { body: req.body }),
          // After an upload's last byte the registry verifies the blob before it answers: give it longer.
          ...(typeof req.body === 'function' ? { timeoutMs: Math.max(UPLOAD_ANSWER_MS, this.http.timeoutMs) } : {}),
          guard: this.guard,
        });
      } catch (e) {
        if (budget !== false && (await budget.again({ error: e }))) continue;
        if (errorCode(e) === 'EREDIRECT') throw new RegistryError('EREGISTRY', `${req.what}: too many redirects from ${this.registry}`, { cause: e });
        throw this.networkError(req.what, e);
      }
      const { res, url, method } = sent;
      const status = res.statusCode ?? 0;
      if (req.expect.includes(status)) return res;
      if (status === 401 && url.origin === base.origin && !authRetried) {
        discardBody(res);
        authRetried = true;
        if (await this.auth.challenge(res.headers['www-authenticate'], req.scopes, sentAuth)) continue;
        throw new RegistryError('EAUTH', `${req.what}: ${await this.auth.describeFailure()}`, { status });
      }
      const from = url.origin === base.origin ? this.registry : url.origin;
      if (budget !== false && (await budget.again({ status, retryAfter: res.headers['retry-after'] as string | undefined, from }))) {
        discardBody(res);
        continue;
      }
      const text = method === 'HEAD' ? { codes: [], text: '' } : registryCodes(await readSmallBody(res, 64 << 10).catch(() => ''));
      const detail = `${from} answered ${status}${text.text ? ` (${text.text})` : ''}`;
      if (status === 401) throw new RegistryError('EAUTH', `${req.what}: ${await this.auth.describeFailure()}`, { status, registryCodes: text.codes });
      if (status === 403) {
        throw new RegistryError('EAUTH', `${req.what}: access denied: ${detail}; check that your account may push to this repository`, { status, registryCodes: text.codes });
      }
      if (status === 404) throw new RegistryError('ENOTFOUND', `${req.what}: ${detail}`, { status, registryCodes: text.codes });
      throw new RegistryError('EREGISTRY', `${req.what}: ${detail}`, { status, registryCodes: text.codes });
    }
  }

  private async fetchToken(url: URL, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
    const what = `getting a token for ${this.registry} from ${url.origin}`;
    const { res } = await this.attempts(this.budget(what), () =>
      this.http.send({ method: init.method, url, headers: init.headers, ...(init.body === undefined ? {} : { body: Buffer.from(init.body) }), redirects: false }),
    ).catch((e: unknown) => {
      throw this.networkError(what, e);
    });
    return { status: res.statusCode ?? 0, body: await readSmallBody(res) };
  }
}
