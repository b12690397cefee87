/**
 * Where registry credentials come from, in the order podman/skopeo and
 * docker look: containers' auth.json ($REGISTRY_AUTH_FILE, then
 * $XDG_RUNTIME_DIR/containers/auth.json), then docker's config.json
 * ($DOCKER_CONFIG or ~/.docker): credHelpers[host], auths[host], credsStore.
 * A credential's secret is only ever put in an Authorization header; it
 * never appears in a message, and `source` says where it came from.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from './errors.js';
import { DOCKER_HUB } from './reference.js';
import { HostError } from '../errors.js';
import { runTool, type ToolResult } from '../fs/tool.js';

export interface Credential {
  readonly username: string;
  /** Password, or an identity (refresh) token when `identityToken` is set. */
  readonly secret: string;
  /** The secret is an OAuth2 refresh token (docker's "identitytoken"). */
  readonly identityToken: boolean;
  /** Where it was found, for messages: a file path or "docker-credential-NAME". */
  readonly source: string;
}

type Env = Readonly<Record<string, string | undefined>>;

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** "https://index.docker.io/v1/" → "docker.io"; "host:5000/path" → "host:5000". */
export function normalizeAuthKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? '';
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new RegistryError('EAUTH', `cannot read the credentials file ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text) as AuthFile;
  } catch {
    // Deliberately no parser message: it could quote part of a secret.
    throw new RegistryError('EAUTH', `the credentials file ${path} is not valid JSON; fix or remove it`);
  }
}

function fromEntry(entry: AuthEntry, source: string): Credential | undefined {
  if (entry.identitytoken) {
    return { username: entry.username ?? '<token>', secret: entry.identitytoken, identityToken: true, source };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new RegistryError('EAUTH', `a credential in ${source} is malformed (its "auth" is not base64 of user:password)`);
    return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1), identityToken: false, source };
  }
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, secret: entry.password, identityToken: false, source };
  }
  return undefined;
}

function findEntry(file: AuthFile, registry: string): AuthEntry | undefined {
  for (const [key, entry] of Object.entries(file.auths ?? {})) {
    if (normalizeAuthKey(key) === registry) return entry;
  }
  return undefined;
}

/** Ask `docker-credential-<helper> get` (the docker credential-helper protocol). */
export async function credentialFromHelper(helper: string, registry: string, env: Env = process.env): Promise<Credential | undefined> {
  const program = `docker-credential-${helper}`;
  // Docker Hub's credentials are stored under its historical index URL.
  const serverUrl = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  let result: ToolResult;
  try {
    result = await runTool([program, 'get'], { env: env as NodeJS.ProcessEnv, input: `${serverUrl}\n` });
  } catch (e) {
    const why = e instanceof HostError ? 'it is not installed' : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    throw new RegistryError('EAUTH', `cannot run the credential helper ${program} configured for ${registry}: ${why}; install it or remove it from the docker config`, { cause: e });
  }
  if (result.code !== 0) {
    if (/credentials not found/i.test(`${result.stdout}\n${result.stderr}`)) return undefined;
    // The helper's own output is not quoted: it may echo a secret.
    throw new RegistryError('EAUTH', `the credential helper ${program} failed for ${registry} (exit ${result.code})`);
  }
  let r: { Username?: string; Secret?: string };
  try {
    r = JSON.parse(result.stdout) as { Username?: string; Secret?: string };
  } catch {
    throw new RegistryError('EAUTH', `the credential helper ${program} printed something that is not JSON for ${registry}`);
  }
  if (typeof r.Secret !== 'string' || r.Secret === '') return undefined;
  return { username: r.Username ?? '', secret: r.Secret, identityToken: r.Username === '<token>', source: program };
}

/** The files searched, in order (containers' auth.json first, then docker's config.json). */
export function credentialFiles(env: Env = process.env): { path: string; kind: 'containers' | 'docker' }[] {
  const files: { path: string; kind: 'containers' | 'docker' }[] = [];
  if (env['REGISTRY_AUTH_FILE']) files.push({ path: env['REGISTRY_AUTH_FILE'], kind: 'containers' });
  if (env['XDG_RUNTIME_DIR']) files.push({ path: join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'), kind: 'containers' });
  const home = env['HOME'] || homedir();
  const dockerDir = env['DOCKER_CONFIG'] || join(home, '.docker');
  files.push({ path: join(dockerDir, 'config.json'), kind: 'docker' });
  return files;
}

/** The credential for a registry host, or undefined (anonymous). */
export async function findCredential(registry: string, env: Env = process.env): Promise<Credential | undefined> {
  for (const { path } of credentialFiles(env)) {
    const file = await readAuthFile(path);
    if (!file) continue;
    const helper = Object.entries(file.credHelpers ?? {}).find(([k]) => normalizeAuthKey(k) === registry)?.[1];
    if (helper) return credentialFromHelper(helper, registry, env);
    const entry = findEntry(file, registry);
    if (entry) {
      const c = fromEntry(entry, path);
      if (c) return c;
    }
    if (file.credsStore) {
      const c = await credentialFromHelper(file.credsStore, registry, env);
      if (c) return c;
    }
  }
  return undefined;
}
