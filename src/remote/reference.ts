/**
 * Image references as docker writes them: `host[:port]/repo[:tag][@digest]`.
 * The first path component is a registry host when it is `localhost`, has a
 * dot or a port, or is a bracketed IPv6 address; otherwise the reference is
 * on Docker Hub (docker.io, `library/` for one-component names).
 * Grammar: distribution's reference package (reference/regexp.go).
 */
import { UsageError } from '../errors.js';
import type { Digest } from '../oci/types.js';

export interface Reference {
  /** host[:port] as written; "docker.io" when the reference names none. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. "team/rootfs". */
  readonly repository: string;
  /** The tag; "latest" when neither tag nor digest was given. */
  readonly tag?: string;
  readonly digest?: Digest;
}

export const DOCKER_HUB = 'docker.io';
export const DEFAULT_TAG = 'latest';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

function invalid(input: string, why: string): UsageError {
  return new UsageError(`invalid image reference "${input}": ${why} (expected host[:port]/repository[:tag] or …@sha256:<digest>)`);
}

function looksLikeHost(first: string): boolean {
  return first === 'localhost' || first.includes('.') || first.includes(':') || first.startsWith('[');
}

function validHost(host: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(host);
  if (!m) return false;
  const name = m[1]!;
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return false;
  if (name.startsWith('[')) return true;
  return name.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** Parse a reference; throws UsageError (exit 2) naming the input. */
export function parseReference(input: string): Reference {
  const text = input.trim();
  if (text === '') throw invalid(input, 'it is empty');
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!DIGEST.test(d)) throw invalid(input, `"${d}" is not a digest`);
    if (d.startsWith('sha256:') && !SHA256.test(d)) throw invalid(input, `"${d}" is not a sha256 digest (64 lowercase hex digits)`);
    digest = d as Digest;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `"${tag}" is not a valid tag`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeHost(parts[0]!)) {
    registry = parts.shift()!;
    if (!validHost(registry)) throw invalid(input, `"${registry}" is not a valid registry host`);
  }
  if (parts.length === 0 || parts.some((p) => p === '')) throw invalid(input, 'the repository name is missing or has an empty component');
  const bad = parts.find((p) => !COMPONENT.test(p));
  if (bad !== undefined) {
    throw invalid(input, `"${bad}" is not a valid repository component (lowercase letters, digits and . _ - separators)`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (registry.length + 1 + repository.length > 255) throw invalid(input, 'the name is longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The canonical text form: host/repo[:tag][@digest]. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** What goes in /v2/<name>/manifests/<reference>: the digest when given, else the tag. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** The same reference pinned to a digest (the tag kept for display). */
export function withDigest(ref: Reference, digest: Digest): Reference {
  return { ...ref, digest };
}

/** Hosts that may use plain http without being marked insecure. */
export function isLocalRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '127.0.0.1' || host === '::1';
}

/** Docker Hub's API is served from another host than its name. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}
