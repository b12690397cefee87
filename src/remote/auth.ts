/**
 * Registry authentication: anonymous, HTTP Basic, and the bearer token flow
 * (a 401 whose `WWW-Authenticate: Bearer realm=…,service=…,scope=…` names a
 * token service; GET it — or POST a refresh token — then retry with the
 * token). https://distribution.github.io/distribution/spec/auth/token/
 */
import type { Credential } from './credentials.js';
import { RegistryError } from './errors.js';

export interface Challenge {
  /** Lowercased: "basic", "bearer", … */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parse a WWW-Authenticate header (RFC 7235: scheme, then key=value or key="quoted" pairs). */
export function parseChallenges(header: string): Challenge[] {
  const out: { scheme: string; params: Record<string, string> }[] = [];
  const tokenChar = /[\w!#$%&'*+.^`|~-]/;
  let i = 0;
  const skip = (chars: RegExp): void => {
    while (i < header.length && chars.test(header[i]!)) i++;
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const start = i;
    while (i < header.length && tokenChar.test(header[i]!)) i++;
    if (i === start) {
      i++;
      continue;
    }
    const word = header.slice(start, i);
    skip(/ /);
    const current = out[out.length - 1];
    if (header[i] === '=' && current) {
      i++;
      skip(/ /);
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          if (header[i] === '\\') i++;
          value += header[i] ?? '';
          i++;
        }
        i++;
      } else {
        while (i < header.length && !/[\s,]/.test(header[i]!)) value += header[i++];
      }
      current.params[word.toLowerCase()] = value;
    } else {
      out.push({ scheme: word.toLowerCase(), params: {} });
    }
  }
  return out;
}

/** How the authenticator asks a token service; supplied by the transport. */
export type TokenFetcher = (
  url: URL,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; body: string }>;

interface CachedToken {
  token: string;
  expiresAt: number;
}

export function basicHeader(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.secret}`, 'utf8').toString('base64')}`;
}

/** Scopes are "repository:<name>:<actions>"; merge actions of the same resource. */
export function mergeScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const s of scopes) {
    for (const one of s.split(' ')) {
      const i = one.lastIndexOf(':');
      if (i <= 0) continue;
      const resource = one.slice(0, i);
      const set = byResource.get(resource) ?? new Set<string>();
      for (const a of one.slice(i + 1).split(',')) if (a) set.add(a);
      byResource.set(resource, set);
    }
  }
  return [...byResource.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([r, a]) => `${r}:${[...a].sort().join(',')}`);
}

export interface AuthenticatorOptions {
  /** The registry host[:port] (for messages and the token request). */
  readonly registry: string;
  /** Looked up lazily, once: most registries need none. */
  readonly credential: () => Promise<Credential | undefined>;
  readonly fetchToken: TokenFetcher;
  /** Whether a token realm may be plain http (local or insecure registries only). */
  readonly allowHttpRealm: boolean;
}

/**
 * Remembers the scheme a registry asked for and answers with the matching
 * Authorization header, fetching and caching bearer tokens per scope set.
 */
export class Authenticator {
  private readonly options: AuthenticatorOptions;
  private credentialPromise: Promise<Credential | undefined> | undefined;
  private scheme: 'basic' | 'bearer' | undefined;
  private bearer: { realm: URL; service: string | undefined } | undefined;
  private readonly tokens = new Map<string, CachedToken>();

  constructor(options: AuthenticatorOptions) {
    this.options = options;
  }

  credential(): Promise<Credential | undefined> {
    this.credentialPromise ??= this.options.credential();
    return this.credentialPromise;
  }

  /** The Authorization header for a request needing `scopes`, if the registry asked for one. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    if (this.scheme === 'basic') {
      const c = await this.credential();
      return c ? basicHeader(c) : undefined;
    }
    if (this.scheme === 'bearer') {
      const key = mergeScopes(scopes).join(' ');
      const cached = this.tokens.get(key);
      if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
      const token = await this.fetchToken(mergeScopes(scopes));
      return token === undefined ? undefined : `Bearer ${token}`;
    }
    return undefined;
  }

  /** Record the scheme a registry's ping asked for, without fetching anything yet. */
  learn(header: string | undefined): void {
    const challenges = parseChallenges(header ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params['realm']) {
      try {
        this.bearer = { realm: new URL(bearer.params['realm']), service: bearer.params['service'] };
        this.scheme = 'bearer';
      } catch {
        // an invalid realm is reported when a request needs it
      }
    } else if (challenges.some((c) => c.scheme === 'basic')) {
      this.scheme = 'basic';
    }
  }

  /**
   * Learn from a 401's WWW-Authenticate. Returns true when a retry can send
   * something new (first challenge, or a bearer token with more scopes).
   */
  async challenge(header: string | undefined, scopes: readonly string[], sent: string | undefined): Promise<boolean> {
    const challenges = parseChallenges(header ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer && bearer.params['realm']) {
      let realm: URL;
      try {
        realm = new URL(bearer.params['realm']);
      } catch {
        throw new RegistryError('EAUTH', `${this.options.registry} named an invalid token realm "${bearer.params['realm']}"`);
      }
      this.scheme = 'bearer';
      this.bearer = { realm, service: bearer.params['service'] };
      const all = mergeScopes([...scopes, ...(bearer.params['scope'] ? [bearer.params['scope']] : [])]);
      const token = await this.fetchToken(all);
      if (token === undefined) return false;
      const next = `Bearer ${token}`;
      this.tokens.set(mergeScopes(scopes).join(' '), { token, expiresAt: Date.now() + 50_000 });
      return next !== sent;
    }
    if (basic) {
      this.scheme = 'basic';
      const c = await this.credential();
      if (!c) return false;
      return basicHeader(c) !== sent;
    }
    return false;
  }

  /** Why authentication failed, for the error message (never the secret). */
  async describeFailure(): Promise<string> {
    const c = await this.credential();
    const login = `log in with \`docker login ${this.options.registry}\` or \`podman login ${this.options.registry}\` (or set REGISTRY_AUTH_FILE)`;
    if (!c) return `${this.options.registry} requires authentication and no credentials for it were found; ${login}`;
    return `${this.options.registry} refused the credentials of user "${c.username}" (from ${c.source}); check them and ${login}`;
  }

  private async fetchToken(scopes: readonly string[]): Promise<string | undefined> {
    const bearer = this.bearer;
    if (!bearer) return undefined;
    const { realm, service } = bearer;
    if (realm.protocol !== 'https:' && !this.options.allowHttpRealm) {
      throw new RegistryError('EAUTH', `${this.options.registry} sends clients to a plain-http token service (${realm.origin}); refusing to send credentials there. Mark the registry insecure if you trust this network`);
    }
    const c = await this.credential();
    const url = new URL(realm.href);
    const headers: Record<string, string> = { Accept: 'application/json' };
    let response: { status: number; body: string };
    if (c?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.secret, client_id: 'eib' });
      if (service) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      response = await this.options.fetchToken(url, { method: 'POST', headers, body: form.toString() });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (c) {
        headers['Authorization'] = basicHeader(c);
        url.searchParams.set('account', c.username);
      }
      response = await this.options.fetchToken(url, { method: 'GET', headers });
    }
    if (response.status === 401 || response.status === 403) {
      const who = c ? `the credentials of user "${c.username}" (from ${c.source})` : 'anonymous access';
      throw new RegistryError('EAUTH', `the token service of ${this.options.registry} (${realm.origin}) refused ${who}; check them and log in again with \`docker login ${this.options.registry}\``, { status: response.status });
    }
    if (response.status !== 200) {
      throw new RegistryError('EAUTH', `the token service of ${this.options.registry} (${realm.origin}) answered ${response.status}`, { status: response.status });
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(response.body) as typeof parsed;
    } catch {
      throw new RegistryError('EAUTH', `the token service of ${this.options.registry} (${realm.origin}) returned something that is not JSON`);
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new RegistryError('EAUTH', `the token service of ${this.options.registry} (${realm.origin}) returned no token`);
    // Tokens live at least 60 s by the spec; renew a little before expiry.
    const ttl = Math.max(60, parsed.expires_in ?? 60) * 1000 - 10_000;
    this.tokens.set(scopes.join(' '), { token, expiresAt: Date.now() + ttl });
    return token;
  }
}
