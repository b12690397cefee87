/**
 * OCI 1.1 referrers in a registry (distribution-spec v1.1, "Listing
 * Referrers", "Pushing Manifests with Subject", "Referrers Tag Schema").
 * A registry with the referrers API indexes subjects itself and answers
 * GET /v2/<name>/referrers/<digest> with an image index; one without it
 * answers 404, and then clients keep that index themselves, tagged
 * `<alg>-<encoded>` after the subject's digest.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md
 */
import { IntegrityError } from '../errors.js';
import { canonicalJsonBytes } from '../oci/canonical-json.js';
import { Annotation, MediaType, type Descriptor, type Digest, type ImageIndex } from '../oci/types.js';
import { SUBJECT_ANNOTATION } from '../sbom/referrers.js';
import { OciLayout } from '../store/layout.js';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { discardBody } from './http.js';
import { readSmallBody } from './transport.js';

/** A referrer kept locally: its manifest's descriptor and the digest of its subject. */
export interface LocalReferrer {
  readonly descriptor: Descriptor;
  readonly subject: Digest;
}

/** Where a push finds the referrers of the manifests it pushed. */
export interface ReferrerSource {
  /** The artifact manifests (or indexes) whose subject is one of `subjects`. */
  referrers(subjects: ReadonlySet<Digest>): Promise<LocalReferrer[]>;
}

/** How a registry lists referrers: its referrers API, or the index under the fallback tag. */
export type ReferrersVia = 'api' | 'tag';

export interface ReferrersList {
  readonly via: ReferrersVia;
  /** Descriptors as the referrers API gives them (artifactType, annotations). */
  readonly manifests: Descriptor[];
}

const REFERRER_TYPES: ReadonlySet<string> = new Set([MediaType.ImageManifest, MediaType.ImageIndex]);

/** Referrer-list pages followed at most (a page lists many descriptors). */
const MAX_PAGES = 100;

/**
 * The referrers of an OCI layout as src/sbom/referrers.ts lists them:
 * untagged index.json entries whose subject (the entry's annotation, else
 * the manifest's own `subject`) is one of the pushed manifests.
 */
export function layoutReferrers(dir: string): ReferrerSource {
  return {
    async referrers(subjects) {
      const layout = await OciLayout.open(dir);
      const found: LocalReferrer[] = [];
      const seen = new Set<string>();
      for (const entry of (await layout.readIndex()).manifests) {
        if (!REFERRER_TYPES.has(entry.mediaType) || entry.annotations?.[Annotation.RefName] !== undefined || seen.has(entry.digest)) continue;
        if (!(await layout.blobs.has(entry.digest))) continue;
        const subject = entry.annotations?.[SUBJECT_ANNOTATION] ?? (await layout.blobs.readJson<{ subject?: Descriptor }>(entry.digest)).subject?.digest;
        if (subject === undefined || !subjects.has(subject as Digest)) continue;
        seen.add(entry.digest);
        found.push({ descriptor: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size }, subject: subject as Digest });
      }
      return found;
    },
  };
}

/** The fallback tag of a subject: algorithm (≤ 32) "-" encoded (≤ 64, non-tag characters as "-"). */
export function referrersTag(subject: Digest): string {
  const colon = subject.indexOf(':');
  const algorithm = subject.slice(0, colon).slice(0, 32).replace(/[^a-zA-Z0-9_.-]/g, '-');
  const encoded = subject.slice(colon + 1).slice(0, 64).replace(/[^a-zA-Z0-9_.-]/g, '-');
  return `${algorithm}-${encoded}`;
}

/**
 * The descriptor a referrers list carries for a referrer manifest: its
 * artifactType (for an image manifest without one, its config's media
 * type) and all its annotations. Also returns the manifest's subject.
 */
export function referrerDescriptor(bytes: Buffer, digest: Digest): { descriptor: Descriptor; subject: Digest } {
  let parsed: { mediaType?: string; artifactType?: string; config?: Descriptor; subject?: Descriptor; annotations?: Record<string, string> };
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
  } catch {
    throw new IntegrityError('EINTEGRITY', `the referrer manifest ${digest} is not valid JSON; rebuild the image`);
  }
  const subject = parsed.subject?.digest;
  const mediaType = parsed.mediaType;
  if (subject === undefined || mediaType === undefined || !REFERRER_TYPES.has(mediaType)) {
    throw new IntegrityError('EINTEGRITY', `the referrer manifest ${digest} has no subject or no OCI media type; rebuild the image`);
  }
  const artifactType = parsed.artifactType ?? (mediaType === MediaType.ImageManifest ? parsed.config?.mediaType : undefined);
  const descriptor: Descriptor = {
    mediaType,
    digest,
    size: bytes.length,
    ...(artifactType === undefined ? {} : { artifactType }),
    ...(parsed.annotations === undefined ? {} : { annotations: parsed.annotations }),
  };
  return { descriptor, subject };
}

function isIndex(value: unknown): value is ImageIndex {
  const v = value as Partial<ImageIndex> | null;
  return v !== null && typeof v === 'object' && (v.mediaType === undefined || v.mediaType === MediaType.ImageIndex) && v.schemaVersion === 2 && Array.isArray(v.manifests);
}

/** GET the referrers API: the listed descriptors, or undefined when the registry has no such API (404). */
export async function referrersFromApi(client: RegistryClient, repository: string, subject: Digest): Promise<Descriptor[] | undefined> {
  const what = `listing referrers of ${client.registry}/${repository}@${subject}`;
  const manifests: Descriptor[] = [];
  let url: string | undefined = `/v2/${repository}/referrers/${subject}`;
  for (let page = 0; url !== undefined; page++) {
    if (page >= MAX_PAGES) throw new RegistryError('EREGISTRY', `${what}: more than ${MAX_PAGES} pages`);
    const res = await client.transport.request({
      method: 'GET',
      url,
      headers: { Accept: MediaType.ImageIndex },
      scopes: [`repository:${repository}:pull`],
      expect: [200, 404],
      what,
    });
    if (res.statusCode === 404) {
      discardBody(res);
      // A registry with the API never answers 404 (spec: "MUST NOT"); a later page's 404 is a fault.
      if (page > 0) throw new RegistryError('EREGISTRY', `${what}: the next page answered 404`, { status: 404 });
      return undefined;
    }
    const body = await readSmallBody(res, 4 << 20);
    let index: unknown;
    try {
      index = JSON.parse(body);
    } catch {
      throw new RegistryError('EREGISTRY', `${what}: the registry answered 200 with something that is not JSON`);
    }
    if (!isIndex(index)) throw new RegistryError('EREGISTRY', `${what}: the registry answered 200 with something that is not an image index`);
    manifests.push(...index.manifests);
    url = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(res.headers.link ?? ''))?.[1];
  }
  return manifests;
}

/** The index under the subject's fallback tag, or undefined when the tag does not exist. */
export async function readReferrersTag(client: RegistryClient, repository: string, subject: Digest): Promise<ImageIndex | undefined> {
  const tag = referrersTag(subject);
  let fetched;
  try {
    fetched = await client.getManifest(repository, tag);
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'ENOTFOUND') return undefined;
    throw e;
  }
  const parsed = JSON.parse(fetched.bytes.toString('utf8')) as unknown;
  if (fetched.mediaType !== MediaType.ImageIndex || !isIndex(parsed)) {
    // The spec: a client SHOULD report a failure rather than overwrite it.
    throw new RegistryError(
      'EREGISTRY',
      `the referrers tag ${client.registry}/${repository}:${tag} of ${subject} holds ${fetched.mediaType}, not an OCI image index; ` +
        'eib will not overwrite it: delete that tag, then push again',
    );
  }
  return parsed;
}

/** The referrers of `subject` in `repository`: through the referrers API, else the fallback tag (none when absent). */
export async function listReferrers(client: RegistryClient, repository: string, subject: Digest): Promise<ReferrersList> {
  const api = await referrersFromApi(client, repository, subject);
  if (api !== undefined) return { via: 'api', manifests: api };
  return { via: 'tag', manifests: (await readReferrersTag(client, repository, subject))?.manifests ?? [] };
}

function sameDescriptor(a: Descriptor, b: Descriptor): boolean {
  return canonicalJsonBytes(a).equals(canonicalJsonBytes(b));
}

/**
 * Make `descriptors` (referrers of `subject`, already in the repository)
 * discoverable. With the referrers API there is nothing to do. Without it,
 * merge them into the index under the fallback tag: an entry with the same
 * digest is replaced in place, others are kept, new ones appended; the tag
 * is written only when that changes the list. Returns how they are listed
 * and whether the tag was written.
 *
 * Two clients updating the same tag at once can lose one update (the spec
 * leaves that to clients; distribution has no conditional manifest PUT).
 */
export async function indexReferrers(client: RegistryClient, repository: string, subject: Digest, descriptors: readonly Descriptor[]): Promise<{ via: ReferrersVia; written: boolean }> {
  if (descriptors.length === 0) throw new TypeError('indexReferrers needs at least one referrer');
  if ((await referrersFromApi(client, repository, subject)) !== undefined) return { via: 'api', written: false };
  const existing = await readReferrersTag(client, repository, subject);
  const index: ImageIndex = existing ?? { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
  let changed = existing === undefined;
  const manifests = [...index.manifests];
  for (const d of descriptors) {
    const at = manifests.findIndex((m) => m.digest === d.digest);
    if (at < 0) {
      manifests.push(d);
      changed = true;
    } else if (!sameDescriptor(manifests[at]!, d)) {
      manifests[at] = d;
      changed = true;
    }
  }
  if (!changed) return { via: 'tag', written: false };
  await client.putManifest(repository, referrersTag(subject), canonicalJsonBytes({ ...index, mediaType: MediaType.ImageIndex, manifests }), MediaType.ImageIndex);
  return { via: 'tag', written: true };
}
