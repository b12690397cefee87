/**
 * eib's one HTTP layer, under the registry client and the apk fetcher:
 * keep-alive agents, TLS trust (system CAs, NODE_EXTRA_CA_CERTS, an extra
 * CA file, or no verification for insecure registries), proxies from the
 * environment (absolute-form requests for http, CONNECT tunnels for https,
 * Proxy-Authorization from the proxy URL, never printed), redirects
 * (Authorization only to the first origin, no silent https → http), bounded
 * silence (a notice after `warnAfterMs` without a byte, failure after
 * `timeoutMs`), and the one capped body reader. Retries are decided by
 * retry.ts; a `get` of this layer applies them, the registry transport
 * applies them per operation.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Duplex, Readable } from 'node:stream';
import { EibError } from '../errors.js';
import { proxyFor, redact, type Env, type Proxy } from './proxy.js';
import { RetryBudget, SILENCE, type RetryPolicy } from './retry.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpClientOptions extends RetryPolicy {
  /** Where proxy variables are read (default process.env). */
  readonly env?: Env;
  /** Path of an extra CA certificate (PEM) to trust, besides the system's. */
  readonly ca?: string;
  /** Do not verify TLS certificates (insecure registries only). */
  readonly insecure?: boolean;
  /** Silence after which the user is told what eib waits for (default 5 s). */
  readonly warnAfterMs?: number;
  /** Silence after which a request fails (default 20 s). */
  readonly timeoutMs?: number;
  /** Where notices about waits go (default: a warning on stderr). */
  readonly onWaiting?: (message: string) => void;
}

export interface SendRequest {
  readonly method: Method;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  /** A small body, or a factory for a fresh stream on each attempt. */
  readonly body?: Buffer | (() => Readable);
  /** Follow redirects (default true); Authorization is kept only for the first origin. */
  readonly redirects?: boolean;
  /** Called before every request, redirects included; throws to refuse a URL. */
  readonly guard?: (url: URL) => void;
  /** Silence after which this request fails, instead of the client's timeoutMs. */
  readonly timeoutMs?: number;
}

export interface Sent {
  readonly res: http.IncomingMessage;
  /** The URL that answered (after redirects). */
  readonly url: URL;
  readonly method: Method;
}

/** A GET's answer, its body unread. */
export interface HttpGetResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Readable;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
/** Bodies eib does not read (redirects, retried errors, answers to PUTs) are drained up to this, then the connection is closed. */
const DISCARD_LIMIT = 64 << 10;

/** An error of the request body's source (a local file): never retried. */
export class SourceError extends Error {
  readonly local = true;
  constructor(readonly inner: unknown) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

/** An error of this layer with a code like Node's (ETIMEDOUT, EREDIRECT, EPROXY…), its message safe to print. */
function netError(code: string, message: string, silence = false): Error {
  const e = Object.assign(new Error(redact(message)), { code });
  if (silence) Object.assign(e, { [SILENCE]: true });
  return e;
}

/** "0.3 s", "5 s": durations in notices. */
function seconds(ms: number): string {
  return `${ms % 1000 === 0 ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
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

/**
 * Let a response's body go without reading it: drained so the connection
 * can be reused, but closed once more than DISCARD_LIMIT bytes come, so an
 * endless body is not read forever in the background.
 */
export function discardBody(res: Readable): void {
  let size = 0;
  res.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > DISCARD_LIMIT) res.destroy();
  });
  res.on('error', () => undefined);
  res.resume();
}

/**
 * An https agent whose connections are CONNECT tunnels through `proxy`,
 * with TLS to the origin inside them. Sockets are pooled per origin.
 */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: Proxy,
    private readonly tlsOptions: tls.ConnectionOptions,
    private readonly timeoutMs: number,
  ) {
    super({ keepAlive: true, maxSockets: 8, ...tlsOptions });
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const done = callback ?? (() => undefined);
    const host = (options.hostname ?? options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(options.port ?? 443);
    const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const proxy = this.proxy;
    const proxyPort = Number(proxy.url.port || (proxy.url.protocol === 'https:' ? 443 : 80));
    const proxyHost = proxy.url.hostname.replace(/^\[|\]$/g, '');
    const socket: net.Socket =
      proxy.url.protocol === 'https:' ? tls.connect({ host: proxyHost, port: proxyPort, servername: net.isIP(proxyHost) ? '' : proxyHost, ...this.tlsOptions }) : net.connect(proxyPort, proxyHost);
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      done(netError((e as { code?: string }).code ?? 'EPROXY', `${e.message} (through the proxy ${proxy.shown} from ${proxy.variable})`, (e as { [SILENCE]?: boolean })[SILENCE] === true), undefined as unknown as Duplex);
    };
    socket.setTimeout(this.timeoutMs, () => fail(netError('ETIMEDOUT', `no answer from the proxy for ${seconds(this.timeoutMs)} to CONNECT ${target}`, true)));
    socket.once('error', fail);
    socket.once(proxy.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      const head = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, 'User-Agent: eib'];
      if (proxy.authorization) head.push(`Proxy-Authorization: ${proxy.authorization}`);
      socket.write(`${head.join('\r\n')}\r\n\r\n`);
    });
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > 16 << 10) fail(netError('EPROXY', `the proxy sent an endless answer to CONNECT ${target}`));
        return;
      }
      socket.off('data', onData);
      const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
      if (status !== 200) {
        const hint = status === 407 ? (proxy.authorization ? '; check the user and password in the proxy URL' : '; the proxy wants credentials: put them in the proxy URL, http://user:password@host:port') : '';
        fail(netError('EPROXY', `the proxy answered ${status || statusLine.slice(0, 60)} to CONNECT ${target}${hint}`));
        return;
      }
      const rest = received.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      socket.setTimeout(0);
      socket.off('error', fail);
      settled = true;
      const secure = tls.connect({ ...this.tlsOptions, socket, servername: net.isIP(host) ? '' : host });
      done(null, secure);
    };
    socket.on('data', onData);
    return undefined;
  }
}

/** The default notice sink: a warning line on stderr (eib's messages never go to stdout). */
function warnOnStderr(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

export class HttpClient {
  readonly options: HttpClientOptions;
  private readonly tlsOptions: tls.ConnectionOptions;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent: https.Agent;
  /** Agents through proxies, by proxy URL (absolute-form http, CONNECT tunnels for https). */
  private readonly proxied = new Map<string, http.Agent>();

  constructor(options: HttpClientOptions = {}) {
    this.options = options;
    this.tlsOptions = this.trust();
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ...this.tlsOptions });
  }

  get warnAfterMs(): number {
    return this.options.warnAfterMs ?? 5_000;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs ?? 20_000;
  }

  /** Tell the user about a wait (silence, a retry's backoff). */
  notice(message: string): void {
    (this.options.onWaiting ?? warnOnStderr)(redact(message));
  }

  private trust(): tls.ConnectionOptions {
    if (this.options.insecure) return { rejectUnauthorized: false };
    if (!this.options.ca) return {};
    // Passing `ca` replaces Node's default store, so add back the system
    // roots and NODE_EXTRA_CA_CERTS ourselves.
    const ca: string[] = [...tls.rootCertificates];
    for (const file of [process.env['NODE_EXTRA_CA_CERTS'], this.options.ca]) {
      if (!file) continue;
      try {
        ca.push(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new EibError('ETLS', `cannot read the CA certificate ${file}: ${(e as Error).message}`, { cause: e });
      }
    }
    return { ca };
  }

  /** Close idle keep-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    for (const agent of this.proxied.values()) agent.destroy();
    this.proxied.clear();
  }

  /** The proxy `url` goes through, if any. */
  proxyFor(url: URL): Proxy | undefined {
    return proxyFor(url, this.options.env ?? process.env);
  }

  /** Send one request (following redirects unless told not to); resolves on the answer's headers. */
  async send(req: SendRequest): Promise<Sent> {
    let url = req.url;
    let method = req.method;
    let body = req.body;
    const origin = url.origin;
    req.guard?.(url);
    const limit = req.timeoutMs ?? this.timeoutMs;
    let res = await this.once(method, url, { ...req.headers }, body, limit);
    for (let hops = 0; req.redirects !== false && REDIRECTS.has(res.statusCode ?? 0) && res.headers.location; hops++) {
      discardBody(res);
      if (hops >= MAX_REDIRECTS) throw netError('EREDIRECT', `too many redirects from ${url.host} (more than ${MAX_REDIRECTS}, last to ${url.pathname})`);
      const next = new URL(res.headers.location, url);
      if (res.statusCode === 303) {
        method = 'GET';
        body = undefined;
      }
      req.guard?.(next);
      url = next;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers ?? {})) {
        // Credentials go to the first origin only.
        if (name.toLowerCase() === 'authorization' && url.origin !== origin) continue;
        headers[name] = value;
      }
      res = await this.once(method, url, headers, body, limit);
    }
    return { res, url, method };
  }

  /**
   * GET `url` with redirects and the retry rule (network failures, 5xx,
   * 429); resolves on the answer's headers with the body unread.
   */
  async get(url: string, headers: Readonly<Record<string, string>> = {}): Promise<HttpGetResult> {
    const parsed = new URL(url);
    const budget = new RetryBudget(this.options, `GET ${redact(url)}`, (m) => this.notice(m));
    for (;;) {
      try {
        const { res, url: answered } = await this.send({ method: 'GET', url: parsed, headers });
        const status = res.statusCode ?? 0;
        if (status >= 500 || status === 429) {
          if (await budget.again({ status, retryAfter: res.headers['retry-after'], from: answered.host })) {
            discardBody(res);
            continue;
          }
        }
        return { status, headers: res.headers, body: res };
      } catch (e) {
        if (await budget.again({ error: e })) continue;
        throw e;
      }
    }
  }

  /** One request, no redirects: through the proxy when the environment says so, with bounded silence. */
  private once(method: Method, url: URL, headers: Record<string, string>, body: Buffer | (() => Readable) | undefined, limit: number): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      if (!secure && url.protocol !== 'http:') {
        reject(netError('EPROTOCOL', `${url.href}: unsupported scheme ${url.protocol} (use http or https)`));
        return;
      }
      const all: Record<string, string> = { 'User-Agent': 'eib', ...headers };
      if (body === undefined && (method === 'PUT' || method === 'POST' || method === 'PATCH')) all['Content-Length'] = '0';
      if (Buffer.isBuffer(body)) all['Content-Length'] = String(body.length);
      const proxy = this.proxyFor(url);
      let req: http.ClientRequest;
      if (proxy && !secure) {
        // Plain http through a proxy: the absolute URL goes to the proxy.
        all['Host'] = url.host;
        if (proxy.authorization) all['Proxy-Authorization'] = proxy.authorization;
        const agent = this.agentFor(proxy, false);
        const proxyHost = proxy.url.hostname.replace(/^\[|\]$/g, '');
        const proxyPort = Number(proxy.url.port || (proxy.url.protocol === 'https:' ? 443 : 80));
        const mod = proxy.url.protocol === 'https:' ? https : http;
        req = mod.request({ host: proxyHost, port: proxyPort, method, path: url.href, headers: all, agent, setHost: false });
      } else {
        const agent = proxy ? this.agentFor(proxy, true) : secure ? this.httpsAgent : this.httpAgent;
        req = (secure ? https : http).request(url, { method, headers: all, agent });
      }
      const via = proxy ? ` (through the proxy ${proxy.shown} from ${proxy.variable})` : '';
      // Silence is watched on the socket (connect, TLS, headers and body
      // alike): a notice after warnAfterMs, failure after timeoutMs.
      const warnAfter = Math.min(this.warnAfterMs, limit);
      req.on('socket', (socket: net.Socket) => {
        let warned = false;
        const onIdle = (): void => {
          if (!warned && warnAfter < limit) {
            warned = true;
            this.notice(`no answer from ${url.host}${via} for ${seconds(warnAfter)} (${method} ${url.pathname}); giving up after ${seconds(limit)}`);
            socket.setTimeout(limit - warnAfter);
            return;
          }
          req.destroy(netError('ETIMEDOUT', `no answer from ${url.host}${via} for ${seconds(limit)}`, true));
        };
        socket.setTimeout(warnAfter);
        socket.on('timeout', onIdle);
        req.once('close', () => {
          socket.off('timeout', onIdle);
          socket.setTimeout(0);
        });
      });
      let source: Readable | undefined;
      req.on('error', (e) => {
        source?.destroy();
        if (e instanceof SourceError || (e as { [SILENCE]?: boolean })[SILENCE] || via === '' || e.message.includes('through the proxy')) reject(e);
        else reject(Object.assign(netError((e as { code?: string }).code ?? 'ENETWORK', `${e.message}${via}`), { cause: e }));
      });
      req.on('response', (res) => {
        // An early answer (401, 413, …) ends the upload of the body.
        if (source && !source.readableEnded) {
          source.unpipe(req);
          source.destroy();
        }
        if (proxy && !secure && res.statusCode === 407) {
          discardBody(res);
          reject(netError('EPROXY', `the proxy ${proxy.shown} from ${proxy.variable} answered 407 to ${method} ${url.host}${url.pathname}${proxy.authorization ? '; check the user and password in the proxy URL' : '; the proxy wants credentials: put them in the proxy URL, http://user:password@host:port'}`));
          return;
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

  private agentFor(proxy: Proxy, tunnel: boolean): http.Agent {
    const id = `${tunnel ? 'tunnel' : 'forward'} ${proxy.url.href}`;
    let agent = this.proxied.get(id);
    if (!agent) {
      agent = tunnel
        ? new TunnelAgent(proxy, this.tlsOptions, this.timeoutMs)
        : proxy.url.protocol === 'https:'
          ? new https.Agent({ keepAlive: true, maxSockets: 8, ...this.tlsOptions })
          : new http.Agent({ keepAlive: true, maxSockets: 8 });
      this.proxied.set(id, agent);
    }
    return agent;
  }
}

let shared: HttpClient | undefined;

/** The process's client for plain downloads (package mirrors): the environment's proxies, the system's CAs. */
export function sharedHttpClient(): HttpClient {
  shared ??= new HttpClient();
  return shared;
}

