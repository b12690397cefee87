/**
 * Authentication against a real registry: htpasswd (Basic) with credentials
 * from a docker config.json or a credential helper, and the bearer token
 * flow with a token server. Secrets never appear in errors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseChallenges } from '../../src/remote/auth.js';
import { findCredential } from '../../src/remote/credentials.js';
import { RegistryError } from '../../src/remote/errors.js';
import { layoutSource } from '../../src/remote/image-source.js';
import { pushImage } from '../../src/remote/push.js';
import { parseReference } from '../../src/remote/reference.js';
import { startRegistry, startTokenServer, tempDir, type TestRegistry, type TokenServer } from '../helpers/registry.js';
import { buildImage, type FixtureImage } from './fixture.js';

const PASSWORD = 's3cret-Pa55word-x9';
const WRONG = 'wr0ng-Pa55word-y7';
let image: FixtureImage;
let basicRegistry: TestRegistry;
let tokenServer: TokenServer;
let tokenRegistry: TestRegistry;
const cleanup: string[] = [];

before(async () => {
  const dir = tempDir('eib-img-');
  cleanup.push(dir);
  image = await buildImage(dir, { tag: 'v1' });
  basicRegistry = await startRegistry({ users: { alice: PASSWORD } });
  tokenServer = await startTokenServer({ bob: PASSWORD });
  tokenRegistry = await startRegistry({ token: tokenServer });
});

after(async () => {
  await basicRegistry.stop();
  await tokenRegistry.stop();
  await tokenServer.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

/** An environment whose only credential source is a docker config.json holding `config`. */
function dockerEnv(config: unknown, extra: Record<string, string> = {}): Record<string, string> {
  const home = tempDir('eib-home-');
  cleanup.push(home);
  mkdirSync(join(home, '.docker'));
  writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify(config));
  return { HOME: home, PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...extra };
}

const auth = (user: string, password: string): string => Buffer.from(`${user}:${password}`).toString('base64');

test('WWW-Authenticate challenges are parsed, quoted commas included', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="eib-test", Bearer realm=x'), [
    { scheme: 'basic', params: { realm: 'eib-test' } },
    { scheme: 'bearer', params: { realm: 'x' } },
  ]);
});

test('credentials are found in auth.json before docker config.json, under normalized keys', async () => {
  const env = dockerEnv({ auths: { 'https://reg.example.com/v1/': { auth: auth('docker-user', 'pw1') } } });
  assert.deepEqual(await findCredential('reg.example.com', env), { username: 'docker-user', secret: 'pw1', identityToken: false, source: join(env['HOME']!, '.docker', 'config.json') });
  const authFile = join(env['HOME']!, 'auth.json');
  writeFileSync(authFile, JSON.stringify({ auths: { 'reg.example.com': { auth: auth('podman-user', 'pw2') } } }));
  assert.equal((await findCredential('reg.example.com', { ...env, REGISTRY_AUTH_FILE: authFile }))?.username, 'podman-user');
  const runtime = tempDir('eib-run-');
  cleanup.push(runtime);
  mkdirSync(join(runtime, 'containers'));
  writeFileSync(join(runtime, 'containers', 'auth.json'), JSON.stringify({ auths: { 'reg.example.com': { auth: auth('xdg-user', 'pw3') } } }));
  assert.equal((await findCredential('reg.example.com', { ...env, XDG_RUNTIME_DIR: runtime }))?.username, 'xdg-user');
  assert.equal(await findCredential('other.example.com', env), undefined);
});

test('credHelpers and credsStore run docker-credential-<name> get', async () => {
  const bin = tempDir('eib-bin-');
  cleanup.push(bin);
  const helper = join(bin, 'docker-credential-eibtest');
  writeFileSync(helper, `#!/bin/sh\nread server\nif [ "$server" = "helped.example.com" ]; then echo '{"ServerURL":"helped.example.com","Username":"helper-user","Secret":"helper-secret"}'; else echo "credentials not found in native keychain"; exit 1; fi\n`);
  chmodSync(helper, 0o755);
  const env = dockerEnv({ credHelpers: { 'helped.example.com': 'eibtest' } }, { PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}` });
  assert.deepEqual(await findCredential('helped.example.com', env), { username: 'helper-user', secret: 'helper-secret', identityToken: false, source: 'docker-credential-eibtest' });
  const store = dockerEnv({ credsStore: 'eibtest' }, { PATH: env['PATH']! });
  assert.equal((await findCredential('helped.example.com', store))?.username, 'helper-user');
  assert.equal(await findCredential('nothing.example.com', store), undefined);
});

test('Basic auth: a push with credentials from docker config.json succeeds', async () => {
  const env = dockerEnv({ auths: { [basicRegistry.host]: { auth: auth('alice', PASSWORD) } } });
  const r = await pushImage(layoutSource(image.dir, 'v1'), parseReference(`${basicRegistry.host}/private/img:v1`), { env });
  assert.equal(r.digest, image.manifest.digest);
});

async function pushError(registry: TestRegistry, env: Record<string, string>): Promise<RegistryError> {
  try {
    await pushImage(layoutSource(image.dir, 'v1'), parseReference(`${registry.host}/private/img:v1`), { env, retryDelayMs: 10 });
  } catch (e) {
    assert.ok(e instanceof RegistryError, String(e));
    return e;
  }
  assert.fail('the push should have failed');
}

function assertNoSecret(e: Error, ...secrets: string[]): void {
  const everything = `${e.message}\n${e.stack ?? ''}\n${JSON.stringify(e)}\n${String((e.cause as Error | undefined)?.message ?? '')}`;
  for (const s of secrets) {
    assert.ok(!everything.includes(s), `the secret appears in: ${e.message}`);
    assert.ok(!everything.includes(Buffer.from(s).toString('base64').slice(0, 12)), 'a base64 form of the secret appears');
  }
}

test('Basic auth: a wrong password is a clear EAUTH error without the secret', async () => {
  const env = dockerEnv({ auths: { [basicRegistry.host]: { auth: auth('alice', WRONG) } } });
  const e = await pushError(basicRegistry, env);
  assert.equal(e.code, 'EAUTH');
  assert.match(e.message, /refused the credentials of user "alice" \(from .*config\.json\)/);
  assert.match(e.message, /docker login/);
  assertNoSecret(e, WRONG, `alice:${WRONG}`);
});

test('Basic auth: no credentials says how to log in', async () => {
  const e = await pushError(basicRegistry, dockerEnv({}));
  assert.equal(e.code, 'EAUTH');
  assert.match(e.message, new RegExp(`${basicRegistry.host} requires authentication and no credentials for it were found; log in with \`docker login`));
});

test('Bearer: the token flow grants push scope and the push lands', async () => {
  const env = dockerEnv({ auths: { [tokenRegistry.host]: { auth: auth('bob', PASSWORD) } } });
  tokenServer.requests.length = 0;
  const r = await pushImage(layoutSource(image.dir, 'v1'), parseReference(`${tokenRegistry.host}/team/img:v1`), { env });
  assert.equal(r.digest, image.manifest.digest);
  assert.ok(tokenServer.requests.length >= 1);
  assert.ok(tokenServer.requests.every((q) => q.user === 'bob' && q.granted));
  assert.ok(tokenServer.requests.some((q) => q.scopes.includes('repository:team/img:pull,push')), JSON.stringify(tokenServer.requests));
  // Tokens are cached: far fewer token requests than registry requests.
  assert.ok(tokenServer.requests.length <= 3, `${tokenServer.requests.length} token requests`);
});

test('Bearer: a wrong password fails at the token service, without the secret', async () => {
  const env = dockerEnv({ auths: { [tokenRegistry.host]: { auth: auth('bob', WRONG) } } });
  const e = await pushError(tokenRegistry, env);
  assert.equal(e.code, 'EAUTH');
  assert.match(e.message, /token service .* refused the credentials of user "bob"/);
  assertNoSecret(e, WRONG);
});

test('Bearer: anonymous tokens without push rights end in a clear error', async () => {
  const e = await pushError(tokenRegistry, dockerEnv({}));
  assert.equal(e.code, 'EAUTH');
  assert.match(e.message, /no credentials for it were found/);
});
