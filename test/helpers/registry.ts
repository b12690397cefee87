/**
 * A real OCI registry for tests: Debian's docker-registry (the CNCF
 * distribution server) with a config written per test (filesystem storage
 * in a temp dir, 127.0.0.x:<free port>), optionally with htpasswd auth,
 * TLS from a CA made by openssl, bearer tokens from a small token server
 * signing JWTs with a test key, or the redirect storage middleware. Also a
 * forwarding proxy that counts requests and can drop or fail them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSign, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'eib-registry-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestCa {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** A CA and a server certificate for 127.0.0.1, localhost and `names`, made now. */
export function makeCa(dir = tempDir('eib-ca-'), names: readonly string[] = []): TestCa {
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=eib test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...names.map((n) => `DNS:${n}`)].join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']);
  return { dir, caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
}

export interface RegistryOptions {
  /** Listen address (default 127.0.0.1); any 127.0.0.0/8 address works. */
  host?: string;
  /** htpasswd users (bcrypt via `htpasswd -B`). */
  users?: Record<string, string>;
  /** Bearer token auth against this token server. */
  token?: TokenServer;
  /** Serve https with a certificate from this CA. */
  tls?: TestCa;
  /** Redirect blob reads to this base URL (distribution's redirect middleware). */
  redirectBaseUrl?: string;
  /** Serve this storage folder and port (to restart a halted registry with its content). */
  storage?: string;
  port?: number;
}

export interface TestRegistry {
  /** host:port as a reference names it. */
  host: string;
  url: string;
  /** Filesystem storage root. */
  storage: string;
  port: number;
  /** Kill the server now, keeping its storage. */
  halt(): void;
  stop(): Promise<void>;
  /** What the registry logged (for failure messages). */
  log(): string;
}

async function waitForPort(host: string, port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not listen on ${host}:${port}:\n${log()}`);
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = tempDir();
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const storage = options.storage ?? join(dir, 'storage');
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (options.tls) {
    lines.push('  tls:', `    certificate: ${options.tls.certFile}`, `    key: ${options.tls.keyFile}`);
  }
  if (options.users) {
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, '');
    for (const [user, password] of Object.entries(options.users)) {
      execFileSync('htpasswd', ['-B', '-b', htpasswd, user, password], { stdio: 'ignore' });
    }
    lines.push('auth:', '  htpasswd:', '    realm: eib-test', `    path: ${htpasswd}`);
  } else if (options.token) {
    lines.push('auth:', '  token:', `    realm: ${options.token.realm}`, `    service: ${options.token.service}`, `    issuer: ${options.token.issuer}`, `    rootcertbundle: ${options.token.certFile}`);
  }
  if (options.redirectBaseUrl) {
    lines.push('middleware:', '  storage:', '    - name: redirect', '      options:', `        baseurl: ${options.redirectBaseUrl}`);
  }
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, `${lines.join('\n')}\n`);
  let output = '';
  const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  await waitForPort(host, port, child, () => output);
  return {
    host: `${host}:${port}`,
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    storage,
    port,
    log: () => output,
    halt: () => {
      // As a crash would: at once, storage kept, for startRegistry({ storage, port }).
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** The signing certificate, the registry's rootcertbundle. */
  certFile: string;
  /** Every token request: its account, scopes and whether it was granted. */
  requests: { user: string | undefined; scopes: string[]; granted: boolean }[];
  stop(): Promise<void>;
}

const b64url = (value: Buffer | string): string => Buffer.from(value).toString('base64url');

/**
 * A token service as distribution's token auth expects: checks Basic
 * credentials, grants the requested scopes, signs an RS256 JWT whose x5c
 * header carries the certificate the registry trusts.
 */
export async function startTokenServer(users: Record<string, string>, options: { service?: string; issuer?: string } = {}): Promise<TokenServer> {
  const dir = tempDir('eib-token-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.pem', '-days', '2', '-subj', '/CN=eib test token issuer'], { cwd: dir, stdio: 'ignore' });
  const key = readFileSync(join(dir, 'token.key'), 'utf8');
  const certPem = readFileSync(join(dir, 'token.pem'), 'utf8');
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const service = options.service ?? 'eib-test-registry';
  const issuer = options.issuer ?? 'eib-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const auth = req.headers.authorization;
    let user: string | undefined;
    if (auth?.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      if (users[u!] !== rest.join(':')) {
        requests.push({ user: u, scopes, granted: false });
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"invalid credentials"}');
        return;
      }
      user = u;
    }
    // Anonymous users get nothing; known users get what they ask for.
    const access = user === undefined ? [] : scopes.map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop() ?? '';
      return { type, name: rest.join(':'), actions: actions.split(',') };
    });
    requests.push({ user, scopes, granted: user !== undefined });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
    const token = `${signingInput}.${b64url(signature)}`;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile: join(dir, 'token.pem'),
    requests,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ProxiedRequest {
  method: string;
  url: string;
  /** Request body bytes forwarded to the registry. */
  bodyBytes: number;
}

/** What to do with one request: forward it, drop the connection, or answer with a status. */
export type ProxyAction = { forward: true } | { drop: 'before' } | { drop: 'midway'; afterBytes: number } | { status: number; headers?: Record<string, string> };

export interface TestProxy {
  host: string;
  requests: ProxiedRequest[];
  /** Decide per request (default: forward everything). */
  decide: (req: http.IncomingMessage, index: number) => ProxyAction;
  stop(): Promise<void>;
}

/**
 * A forwarding proxy in front of a registry. The Host header is kept, so the
 * registry's Location headers point back at the proxy.
 */
export async function startProxy(target: string): Promise<TestProxy> {
  const [targetHost, targetPort] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const proxy: TestProxy = { host: '', requests: [], decide: () => ({ forward: true }), stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const record: ProxiedRequest = { method: req.method ?? '', url: req.url ?? '', bodyBytes: 0 };
    proxy.requests.push(record);
    const action = proxy.decide(req, proxy.requests.length - 1);
    if ('status' in action) {
      req.resume();
      res.writeHead(action.status, { 'Content-Type': 'application/json', ...action.headers }).end('{"errors":[{"code":"UNAVAILABLE","message":"test fault"}]}');
      return;
    }
    if ('drop' in action && action.drop === 'before') {
      req.socket.destroy();
      return;
    }
    const upstream = http.request({ host: targetHost, port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    const limit = 'drop' in action ? action.afterBytes : Infinity;
    req.on('data', (chunk: Buffer) => {
      const room = limit - record.bodyBytes;
      if (room <= 0) return;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      record.bodyBytes += part.length;
      upstream.write(part);
      if (record.bodyBytes >= limit) {
        // Cut both sides, as a dropped connection would.
        setTimeout(() => {
          upstream.destroy();
          req.socket.destroy();
        }, 50);
      }
    });
    req.on('end', () => {
      if (record.bodyBytes < limit) upstream.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  proxy.stop = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return proxy;
}
