/**
 * Which proxy a URL goes through, from the environment as curl and Go read
 * it: https_proxy / HTTPS_PROXY for https, http_proxy / HTTP_PROXY for http
 * (lowercase wins; all_proxy / ALL_PROXY as the fallback), no_proxy /
 * NO_PROXY for exceptions (host names matching a domain suffix, optional
 * :port, IP addresses and CIDR ranges, `*` for all). localhost and loopback
 * addresses never use a proxy, as in Go's net/http. Credentials in a proxy
 * URL are sent as Proxy-Authorization and never printed: `redact` removes
 * them from any text that may carry a URL.
 */
import net from 'node:net';
import { EibError, redactCredentials } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Proxy {
  /** The proxy's URL, credentials included (never print it: use `shown`). */
  readonly url: URL;
  /** The variable it came from, for messages. */
  readonly variable: string;
  /** scheme://host:port, safe to print. */
  readonly shown: string;
  /** The Proxy-Authorization header value, when the URL carries credentials. */
  readonly authorization: string | undefined;
}

/** Remove `user:password@` from every URL in `text`. */
export const redact = redactCredentials;

function variable(env: Env, name: string): { name: string; value: string } | undefined {
  for (const n of [name.toLowerCase(), name.toUpperCase()]) {
    const value = env[n]?.trim();
    if (value) return { name: n, value };
  }
  return undefined;
}

/** The host of a URL without IPv6 brackets, lowercased. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

function defaultPort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return net.isIPv6(host) && (host === '::1' || /^::ffff:127\./i.test(host));
}

/** Whether NO_PROXY's `list` exempts `url`. */
export function bypassed(url: URL, list: string): boolean {
  const host = bareHost(url);
  const port = defaultPort(url);
  for (const raw of list.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const cidr = /^([0-9a-f:.]+)\/(\d{1,3})$/.exec(entry);
    if (cidr) {
      const family = net.isIPv4(cidr[1]!) ? 'ipv4' : net.isIPv6(cidr[1]!) ? 'ipv6' : undefined;
      const hostFamily = net.isIPv4(host) ? 'ipv4' : net.isIPv6(host) ? 'ipv6' : undefined;
      if (family === undefined || hostFamily !== family) continue;
      const block = new net.BlockList();
      block.addSubnet(cidr[1]!, Number(cidr[2]), family);
      if (block.check(host, family)) return true;
      continue;
    }
    let entryPort: string | undefined;
    const withPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (withPort) {
      entry = withPort[1]!;
      entryPort = withPort[2]!;
    }
    entry = entry.replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
    if (entryPort !== undefined && entryPort !== port) continue;
    if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

function parseProxy(name: string, value: string): Proxy {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new EibError('EPROXY', `${name} is not a URL (${redact(value)}); set it like http://proxy.example:3128`, { exitCode: 2 });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EibError('EPROXY', `${name} uses ${url.protocol.slice(0, -1)}, which eib does not support; use an http:// or https:// proxy`, { exitCode: 2 });
  }
  const shown = `${url.protocol}//${url.host}`;
  const authorization =
    url.username === '' && url.password === '' ? undefined : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  return { url, variable: name, shown, authorization };
}

/** The proxy that `url` goes through according to `env`, or undefined for a direct connection. */
export function proxyFor(url: URL, env: Env): Proxy | undefined {
  if (isLoopback(bareHost(url))) return undefined;
  const noProxy = variable(env, 'no_proxy');
  if (noProxy && bypassed(url, noProxy.value)) return undefined;
  const chosen = variable(env, url.protocol === 'https:' ? 'https_proxy' : 'http_proxy') ?? variable(env, 'all_proxy');
  return chosen === undefined ? undefined : parseProxy(chosen.name, chosen.value);
}
