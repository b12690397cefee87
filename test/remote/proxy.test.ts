/**
 * The HTTP layer behind a real forward proxy on 127.0.0.1: a package index
 * and a package fetched over http (absolute-form) and https (CONNECT), a
 * push to a real TLS registry through a CONNECT tunnel, proxy credentials
 * sent but never printed, NO_PROXY and loopback bypassing the proxy, and a
 * server that accepts connections but never answers reported in bounded
 * time. The servers are reachable only by names the proxy alone resolves.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeys } from '../../src/apk/keys.js';
import { fetchPackage, openRepository } from '../../src/apk/repository.js';
import { RegistryClient } from '../../src/remote/client.js';
import { RegistryError } from '../../src/remote/errors.js';
import { HttpClient } from '../../src/remote/http.js';
import { layoutSource } from '../../src/remote/image-source.js';
import { bypassed, proxyFor, redact } from '../../src/remote/proxy.js';
import { pushImage } from '../../src/remote/push.js';
import { parseReference } from '../../src/remote/reference.js';
import { startForwardProxy, type ForwardProxy } from '../helpers/forward-proxy.js';
import { makeCa, startRegistry, tempDir, type TestCa, type TestRegistry } from '../helpers/registry.js';
import { serveStatic, type StaticServer } from '../helpers/static-server.js';
import { runEib } from '../helpers/cli.js';
import { SHARED_ALPINE, userTempDir } from '../helpers/user.js';
import { buildImage, type FixtureImage } from './fixture.js';

const REPO_ROOT = join(SHARED_ALPINE, 'repo');
const skip = !existsSync(REPO_ROOT) && 'no shared Alpine data';
const SECRET = 'pr0xy-s3cret';
const keys = (): ReturnType<typeof loadKeys> => loadKeys([join(SHARED_ALPINE, 'keys/eib-test-0001.rsa.pub')]);

let ca: TestCa;
let registry: TestRegistry;
let httpMirror: StaticServer;
let httpsMirror: StaticServer;
let proxy: ForwardProxy;
let image: FixtureImage;
const cleanup: string[] = [];

before(async () => {
  ca = makeCa(undefined, ['registry.test', 'mirror.test']);
  cleanup.push(ca.dir);
  const dir = tempDir('eib-img-');
  cleanup.push(dir);
  image = await buildImage(dir, { tag: 'v1' });
  registry = await startRegistry({ tls: ca });
  httpMirror = await serveStatic(REPO_ROOT);
  httpsMirror = await serveStatic(REPO_ROOT, { tls: ca });
  proxy = await startForwardProxy({
    hosts: {
      [`registry.test:${registry.port}`]: `127.0.0.1:${registry.port}`,
      'mirror.test:80': `127.0.0.1:${httpMirror.port}`,
      'mirror.test:443': `127.0.0.1:${httpsMirror.port}`,
    },
    credentials: { user: 'builder', password: SECRET },
  });
});

after(async () => {
  await proxy?.stop();
  await httpMirror?.close();
  await httpsMirror?.close();
  await registry?.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

const proxyUrl = (password = SECRET): string => `http://builder:${password}@127.0.0.1:${proxy.port}`;

test('proxy selection follows curl and Go: scheme, lowercase first, NO_PROXY forms, loopback never proxied', () => {
  const env = { HTTPS_PROXY: 'http://upper:3128', https_proxy: 'lower:3128', HTTP_PROXY: 'http://plain:8080', NO_PROXY: '.corp.example, internal:8443, 10.0.0.0/8' };
  assert.equal(proxyFor(new URL('https://dl-cdn.alpinelinux.org/x'), env)?.shown, 'http://lower:3128', 'lowercase wins; no scheme means http');
  assert.equal(proxyFor(new URL('http://dl-cdn.alpinelinux.org/x'), env)?.shown, 'http://plain:8080');
  assert.equal(proxyFor(new URL('https://mirror.corp.example/'), env), undefined, 'domain suffix');
  assert.equal(proxyFor(new URL('https://corp.example/'), env), undefined, 'the domain itself');
  assert.notEqual(proxyFor(new URL('https://notcorp.example/'), env), undefined, 'a suffix only on a dot boundary');
  assert.equal(proxyFor(new URL('https://internal:8443/'), env), undefined, 'host and port');
  assert.notEqual(proxyFor(new URL('https://internal/'), env), undefined, 'another port is proxied');
  assert.equal(proxyFor(new URL('https://10.1.2.3/'), env), undefined, 'CIDR');
  assert.equal(proxyFor(new URL('https://127.0.0.1:5000/'), env), undefined, 'loopback');
  assert.equal(proxyFor(new URL('https://localhost:5000/'), env), undefined, 'localhost');
  assert.equal(proxyFor(new URL('https://[::1]:5000/'), env), undefined, 'IPv6 loopback');
  assert.equal(proxyFor(new URL('https://x.example/'), { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*' }), undefined, '* disables proxies');
  assert.equal(proxyFor(new URL('https://x.example/'), { ALL_PROXY: 'http://all:1' })?.shown, 'http://all:1', 'all_proxy is the fallback');
  assert.equal(bypassed(new URL('https://a.b.example/'), '*.b.example'), true);
  const withCredentials = proxyFor(new URL('https://x.example/'), { HTTPS_PROXY: `http://us%40er:${SECRET}@p:1` })!;
  assert.equal(withCredentials.shown, 'http://p:1');
  assert.equal(Buffer.from(withCredentials.authorization!.slice(6), 'base64').toString(), `us@er:${SECRET}`);
  assert.throws(() => proxyFor(new URL('https://x.example/'), { HTTPS_PROXY: `socks5://u:${SECRET}@p:1` }), (e: Error) => /HTTPS_PROXY uses socks5/.test(e.message) && !e.message.includes(SECRET));
  assert.equal(redact(`failed: http://u:${SECRET}@p:1/ and https://tok@host/x`), 'failed: http://p:1/ and https://host/x');
});

test('a package index and a package come through the proxy over http and https (CONNECT), with its credentials', { skip }, async () => {
  for (const scheme of ['http', 'https'] as const) {
    const client = new HttpClient({ env: { http_proxy: proxyUrl(), https_proxy: proxyUrl() }, ca: ca.caFile });
    const get = (url: string, headers?: Readonly<Record<string, string>>): ReturnType<HttpClient['get']> => client.get(url, headers);
    const cacheDir = mkdtempSync(join(tmpdir(), 'eib-proxy-cache-'));
    cleanup.push(cacheDir);
    const seen = proxy.log.length;
    try {
      const url = `${scheme}://mirror.test/v3.20/main`;
      const repo = await openRepository({ url, arch: 'aarch64', keys: keys(), cacheDir, http: get });
      const busybox = repo.packages.find((p) => p.name === 'busybox')!;
      const path = await fetchPackage(repo, busybox, { cacheDir, http: get });
      assert.deepEqual(readFileSync(path), readFileSync(join(REPO_ROOT, 'v3.20/main/aarch64/busybox-1.36.1-r29.apk')));
    } finally {
      client.close();
    }
    const log = proxy.log.slice(seen);
    assert.ok(log.every((e) => e.user === 'builder' && e.status === 200), JSON.stringify(log));
    if (scheme === 'http') {
      assert.deepEqual(
        log.map((e) => e.line),
        ['GET http://mirror.test/v3.20/main/aarch64/APKINDEX.tar.gz', 'GET http://mirror.test/v3.20/main/aarch64/busybox-1.36.1-r29.apk'],
      );
    } else {
      assert.ok(log.length >= 1 && log.every((e) => e.line === 'CONNECT mirror.test:443'), JSON.stringify(log));
      assert.ok(httpsMirror.log.includes('200 /v3.20/main/aarch64/busybox-1.36.1-r29.apk'), 'the mirror served it inside the tunnel');
    }
  }
});

test('a push to a TLS registry goes through a CONNECT tunnel; skopeo reads what arrived', async () => {
  const seen = proxy.log.length;
  const ref = parseReference(`registry.test:${registry.port}/proxied/img:v1`);
  const r = await pushImage(layoutSource(image.dir, 'v1'), ref, { credential: async () => undefined, ca: ca.caFile, env: { HTTPS_PROXY: proxyUrl() } });
  assert.equal(r.digest, image.manifest.digest);
  const log = proxy.log.slice(seen);
  assert.ok(log.length >= 1);
  assert.ok(log.every((e) => e.line === `CONNECT registry.test:${registry.port}` && e.user === 'builder'), JSON.stringify(log));
  const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/proxied/img:v1`]);
  assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, image.manifest.digest);
});

test('wrong proxy credentials: a 407 that names the proxy, never the password, for both clients', { skip }, async () => {
  const wrong = 'wr0ng-pa55word';
  const ref = parseReference(`registry.test:${registry.port}/proxied/img:v1`);
  await assert.rejects(
    pushImage(layoutSource(image.dir, 'v1'), ref, { credential: async () => undefined, ca: ca.caFile, env: { HTTPS_PROXY: proxyUrl(wrong) }, retryDelayMs: 1 }),
    (e: unknown) => e instanceof RegistryError && /407/.test(e.message) && e.message.includes(`http://127.0.0.1:${proxy.port}`) && !e.message.includes(wrong) && !e.message.includes('builder:'),
  );
  const client = new HttpClient({ env: { http_proxy: proxyUrl(wrong) } });
  const cacheDir = mkdtempSync(join(tmpdir(), 'eib-proxy-cache-'));
  cleanup.push(cacheDir);
  try {
    await assert.rejects(openRepository({ url: 'http://mirror.test/v3.20/main', arch: 'aarch64', keys: keys(), cacheDir, http: (u, h) => client.get(u, h) }), (e: Error) => /407/.test(e.message) && /user and password/.test(e.message) && !e.message.includes(wrong));
  } finally {
    client.close();
  }
  // A proxy that cannot be reached: the error names it without the password.
  const closed = new HttpClient({ env: { https_proxy: `http://builder:${wrong}@127.0.0.1:1` }, retryDelayMs: 1, maxAttempts: 2 });
  try {
    await assert.rejects(closed.get('https://mirror.test/x'), (e: Error) => /ECONNREFUSED/.test(e.message) && /through the proxy http:\/\/127\.0\.0\.1:1 from https_proxy/.test(e.message) && !e.message.includes(wrong));
  } finally {
    closed.close();
  }
});

test('eib lock, as a user would run it, fetches through HTTP_PROXY; a refused password is not printed', { skip }, async () => {
  const dir = userTempDir('eib-proxy-cli-');
  cleanup.push(dir);
  writeFileSync(
    join(dir, 'eib.yaml'),
    ['name: p', 'arch: x86_64', 'alpine:', '  repositories: [http://mirror.test/v3.20/main]', `  keys: [${join(SHARED_ALPINE, 'keys')}]`, 'stages:', '  - name: base', '    packages: [busybox]', ''].join('\n'),
  );
  const seen = proxy.log.length;
  const lock = await runEib(['lock'], { cwd: dir, env: { HTTP_PROXY: proxyUrl() } });
  assert.equal(lock.code, 0, lock.stderr);
  assert.ok(existsSync(join(dir, 'eib.lock.json')));
  assert.deepEqual(proxy.log.slice(seen), [{ line: 'GET http://mirror.test/v3.20/main/x86_64/APKINDEX.tar.gz', user: 'builder', status: 200 }]);
  const wrong = 'cl1-wr0ng';
  const refused = await runEib(['lock', '--update'], { cwd: dir, env: { http_proxy: proxyUrl(wrong) } });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`the proxy http://127\\.0\\.0\\.1:${proxy.port} from http_proxy answered 407`));
  assert.ok(!refused.stderr.includes(wrong) && !refused.stdout.includes(wrong), refused.stderr);
});

test('NO_PROXY and loopback bypass the proxy', { skip }, async () => {
  const seen = proxy.log.length;
  // mirror.test resolves only at the proxy: bypassing it means asking DNS directly.
  const client = new HttpClient({ env: { HTTP_PROXY: proxyUrl(), NO_PROXY: 'example.org,mirror.test' }, retryDelayMs: 1 });
  try {
    await assert.rejects(client.get('http://mirror.test/v3.20/main/aarch64/APKINDEX.tar.gz'), (e: Error & { code?: string }) => e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN');
    // A loopback registry is reached directly even with a proxy set.
    const r = await pushImage(layoutSource(image.dir, 'v1'), parseReference(`${registry.host}/direct/img:v1`), { credential: async () => undefined, ca: ca.caFile, env: { HTTPS_PROXY: proxyUrl() } });
    assert.equal(r.digest, image.manifest.digest);
  } finally {
    client.close();
  }
  assert.deepEqual(proxy.log.slice(seen), [], 'the proxy saw nothing');
});

test('a server that accepts connections and never answers: a notice, one retry, then a clear error', async () => {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const silent = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  const notices: string[] = [];
  const client = new RegistryClient(`127.0.0.1:${port}`, { credential: async () => undefined, warnAfterMs: 300, timeoutMs: 900, retryDelayMs: 1, onWaiting: (m) => notices.push(m) });
  try {
    await assert.rejects(client.ping(), (e: unknown) => e instanceof RegistryError && e.code === 'ENETWORK' && /no answer from 127\.0\.0\.1:\d+ for 0\.9 s/.test(e.message));
    assert.equal(connections, 2, 'tried twice, not five times');
    assert.ok(notices.some((m) => /no answer from 127\.0\.0\.1:\d+ for 0\.3 s \(GET \/v2\/\); giving up after 0\.9 s/.test(m)), notices.join('\n'));
  } finally {
    client.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});
