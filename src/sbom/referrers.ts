/**
 * OCI 1.1 referrers kept in an image layout. The image-layout spec has no
 * referrers index of its own, so, as ORAS and other layout writers do, an
 * artifact manifest whose `subject` is an image manifest is listed in
 * index.json as an untagged entry carrying its artifactType; readers find
 * the referrers of a manifest by the entries' subject. Writing one replaces
 * the earlier artifact of the same type for the same subject, and drops
 * those whose subject no tag reaches any more.
 */
import { join } from 'node:path';
import { canonicalJson } from '../oci/canonical-json.js';
import { Annotation, MediaType, type Descriptor, type Digest, type ImageIndex, type ImageManifest } from '../oci/types.js';
import type { OciLayout } from '../store/layout.js';
import { writeFileAtomic } from '../fs/atomic-write.js';

/** Index-entry annotation naming the referrer's subject, so lookups need not open every manifest. */
export const SUBJECT_ANNOTATION = 'dev.eib.referrer.subject';

export interface Referrer {
  /** The index.json entry (the artifact manifest's descriptor). */
  descriptor: Descriptor;
  manifest: ImageManifest;
}

function isReferrerEntry(d: Descriptor, artifactType: string): boolean {
  return d.mediaType === MediaType.ImageManifest && d.artifactType === artifactType && d.annotations?.[Annotation.RefName] === undefined;
}

/** The artifacts of `artifactType` listed in the layout whose subject is `subject`. */
export async function findReferrers(layout: OciLayout, subject: Digest, artifactType: string): Promise<Referrer[]> {
  const index = await layout.readIndex();
  const found: Referrer[] = [];
  for (const d of index.manifests) {
    if (!isReferrerEntry(d, artifactType) || (await subjectOf(layout, d)) !== subject || !(await layout.blobs.has(d.digest))) continue;
    const manifest = await layout.readManifest(d);
    if (manifest.subject?.digest === subject) found.push({ descriptor: d, manifest });
  }
  return found;
}

/** Digests of every manifest a non-referrer entry reaches (the tagged images and their per-arch manifests). */
async function reachableManifests(layout: OciLayout, index: ImageIndex, artifactType: string): Promise<Set<string>> {
  const reached = new Set<string>();
  for (const d of index.manifests) {
    if (isReferrerEntry(d, artifactType)) continue;
    reached.add(d.digest);
    if (d.mediaType === MediaType.ImageIndex && (await layout.blobs.has(d.digest))) {
      const inner = await layout.blobs.readJson<ImageIndex>(d.digest);
      for (const m of inner.manifests) reached.add(m.digest);
    }
  }
  return reached;
}

/** The subject of a referrer entry: from its annotation, else from its manifest (entries other tools wrote). */
async function subjectOf(layout: OciLayout, d: Descriptor): Promise<string | undefined> {
  const annotated = d.annotations?.[SUBJECT_ANNOTATION];
  if (annotated !== undefined) return annotated;
  if (!(await layout.blobs.has(d.digest))) return undefined;
  return (await layout.readManifest(d)).subject?.digest;
}

/**
 * List `artifact` (already stored with layout.putManifest) as a referrer of
 * its subject; returns the descriptors of the artifact manifests it replaced.
 */
export async function putReferrer(layout: OciLayout, artifact: Descriptor, manifest: ImageManifest): Promise<Descriptor[]> {
  const subject = manifest.subject;
  const artifactType = manifest.artifactType;
  if (subject === undefined || artifactType === undefined) throw new TypeError('a referrer needs a subject and an artifactType');
  const entry: Descriptor = {
    mediaType: MediaType.ImageManifest,
    digest: artifact.digest,
    size: artifact.size,
    artifactType,
    annotations: { ...manifest.annotations, [SUBJECT_ANNOTATION]: subject.digest },
  };
  const index = await layout.readIndex();
  const reachable = await reachableManifests(layout, index, artifactType);
  const replaced: Descriptor[] = [];
  const kept: Descriptor[] = [];
  for (const d of index.manifests) {
    const of = isReferrerEntry(d, artifactType) ? await subjectOf(layout, d) : undefined;
    if (of === undefined || (d.digest !== entry.digest && of !== subject.digest && reachable.has(of))) {
      kept.push(d);
    } else if (d.digest !== entry.digest) {
      replaced.push(d);
    }
  }
  index.manifests = kept;
  index.manifests.push(entry);
  await writeIndex(layout.dir, index);
  return replaced;
}

/** Replace index.json atomically, as the layout store does. */
async function writeIndex(dir: string, index: ImageIndex): Promise<void> {
  await writeFileAtomic(join(dir, 'index.json'), canonicalJson(index));
}
