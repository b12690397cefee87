/**
 * The SPDX 2.3 JSON document of an image's installed apk packages: one SPDX
 * package per installed package (license, supplier, origin, checksum, purl,
 * download location), DEPENDS_ON relationships resolved from D: through
 * provides, and — when the image is known — a CONTAINER package for the
 * image that the document DESCRIBES and that CONTAINS every apk package.
 * Everything is derived from the input and sorted, so the same image gives
 * the same bytes.
 */
import { createHash } from 'node:crypto';
import type { InstalledPackage } from '../apk/database.js';
import { rfc3339 } from '../oci/image.js';
import type { Digest, Platform } from '../oci/types.js';
import { apkChecksum, apkMetadata, type ApkMetadata } from './apk-metadata.js';
import { resolveDependencies } from './dependencies.js';
import { spdxLicense, type LicenseRef } from './license.js';
import { NOASSERTION, type SpdxDocument, type SpdxExtractedLicense, type SpdxPackage, type SpdxRelationship } from './types.js';

export interface SpdxImage {
  /** The image manifest the document describes. */
  digest: Digest;
  platform: Platform;
}

export interface SpdxInput {
  /** Image name (config `name`). */
  name: string;
  /** Alpine arch of the image; the purl arch of packages that do not record their own. */
  arch: string;
  /** The image's lib/apk/db/installed. */
  packages: readonly InstalledPackage[];
  /** RFC 3339 UTC; the config epoch when set, for reproducibility. */
  created: string;
  /** A URI unique to this document, derived from what it describes (no random part). */
  namespace: string;
  /** Adds a CONTAINER package for the image, which the document describes. */
  image?: SpdxImage;
  /** Where each package can be downloaded, by its C: checksum. */
  downloadLocations?: ReadonlyMap<string, string>;
  /** "Tool: eib-<version>"; creators of the document. */
  creators?: readonly string[];
  comment?: string;
}

export const IMAGE_SPDX_ID = 'SPDXRef-Image';

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The SPDX time format: RFC 3339 UTC without fractions. */
export function spdxTime(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new RangeError(`not an RFC 3339 time: ${value}`);
  return rfc3339(Math.floor(ms / 1000));
}

/** "SPDXRef-Package-apk-<name>-<version>", hashed when the name needs escaping so ids stay unique. */
function packageId(name: string, version: string): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9.-]/g, '-');
  const id = `SPDXRef-Package-apk-${safe(name)}-${safe(version)}`;
  if (safe(name) === name && safe(version) === version) return id;
  return `${id}-${createHash('sha256').update(`${name}\0${version}`).digest('hex').slice(0, 8)}`;
}

/** purl-spec: percent-encode everything but unreserved characters. */
function purlPart(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** "Name <mail>" (apk m:) → "Person: Name (mail)" (spec 7.5). */
function supplier(maintainer: string | undefined): string {
  if (maintainer === undefined) return NOASSERTION;
  const m = /^(.*?)\s*<([^>]*)>\s*$/.exec(maintainer);
  return m ? `Person: ${m[1]!.trim() || m[2]!} (${m[2]!})` : `Person: ${maintainer}`;
}

function apkPackage(meta: ApkMetadata, input: SpdxInput, refs: Map<string, LicenseRef>): SpdxPackage {
  const license = spdxLicense(meta.license ?? '');
  for (const ref of license.refs) refs.set(ref.id, ref);
  const arch = meta.arch ?? input.arch;
  const pkg: SpdxPackage = {
    SPDXID: packageId(meta.name, meta.version),
    name: meta.name,
    versionInfo: meta.version,
    packageFileName: `${meta.name}-${meta.version}.apk`,
    supplier: supplier(meta.maintainer),
    downloadLocation: input.downloadLocations?.get(meta.checksum) ?? NOASSERTION,
    filesAnalyzed: false,
    // eib reads what the package declares; it draws no conclusion of its own.
    licenseConcluded: NOASSERTION,
    licenseDeclared: license.expression,
    copyrightText: NOASSERTION,
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: `pkg:apk/alpine/${purlPart(meta.name)}@${purlPart(meta.version)}?arch=${purlPart(arch)}${meta.origin ? `&upstream=${purlPart(meta.origin)}` : ''}`,
      },
    ],
  };
  if (meta.license !== undefined && license.expression !== meta.license) pkg.licenseComments = `apk declares the license as: ${meta.license}`;
  const sum = apkChecksum(meta.checksum);
  if (sum) pkg.checksums = [{ algorithm: sum.algorithm, checksumValue: sum.hex }];
  if (meta.url !== undefined) pkg.homepage = meta.url;
  if (meta.description !== undefined) pkg.summary = meta.description;
  if (meta.origin !== undefined) {
    pkg.sourceInfo = `built from the apk origin package ${meta.origin}${meta.commit ? ` (aports commit ${meta.commit})` : ''}`;
  }
  if (meta.buildTime !== undefined) pkg.builtDate = rfc3339(meta.buildTime);
  return pkg;
}

function imagePackage(input: SpdxInput, image: SpdxImage): SpdxPackage {
  const arch = image.platform.variant ? `${image.platform.architecture}/${image.platform.variant}` : image.platform.architecture;
  return {
    SPDXID: IMAGE_SPDX_ID,
    name: input.name,
    versionInfo: image.digest,
    supplier: NOASSERTION,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    primaryPackagePurpose: 'CONTAINER',
    checksums: [{ algorithm: 'SHA256', checksumValue: image.digest.replace(/^sha256:/, '') }],
    comment: `OCI image manifest ${image.digest} (${image.platform.os}/${arch}), built by eib`,
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: `pkg:oci/${purlPart(input.name.toLowerCase())}@${purlPart(image.digest)}?arch=${purlPart(image.platform.architecture)}`,
      },
    ],
  };
}

function extractedLicense(ref: LicenseRef): SpdxExtractedLicense {
  return {
    licenseId: ref.id,
    name: ref.text,
    extractedText: ref.text,
    comment: `declared in apk package metadata (L:) as "${ref.text}", which is not an SPDX License List expression`,
  };
}

export function spdxDocument(input: SpdxInput): SpdxDocument {
  const metas = input.packages.map(apkMetadata).sort((a, b) => compare(a.name, b.name) || compare(a.version, b.version));
  const refs = new Map<string, LicenseRef>();
  const packages = metas.map((m) => apkPackage(m, input, refs));
  const idOf = new Map(metas.map((m, i) => [m.name, packages[i]!.SPDXID]));

  const deps = resolveDependencies(metas);
  metas.forEach((m, i) => {
    const missing = deps.unresolved.get(m.name);
    if (missing) packages[i]!.comment = `dependencies no installed package satisfies: ${missing.join(' ')}`;
  });

  const relationships: SpdxRelationship[] = [];
  if (input.image) {
    relationships.push({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: IMAGE_SPDX_ID });
    for (const p of packages) relationships.push({ spdxElementId: IMAGE_SPDX_ID, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID });
  } else {
    for (const p of packages) relationships.push({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: p.SPDXID });
  }
  for (const m of metas) {
    for (const target of deps.edges.get(m.name) ?? []) {
      relationships.push({ spdxElementId: idOf.get(m.name)!, relationshipType: 'DEPENDS_ON', relatedSpdxElement: idOf.get(target)! });
    }
  }

  const doc: SpdxDocument = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${input.name}-${input.arch}`,
    documentNamespace: input.namespace,
    creationInfo: { created: spdxTime(input.created), creators: [...(input.creators ?? ['Tool: eib'])] },
    packages: input.image ? [imagePackage(input, input.image), ...packages] : packages,
    relationships,
  };
  if (input.comment !== undefined) doc.comment = input.comment;
  if (refs.size > 0) doc.hasExtractedLicensingInfos = [...refs.values()].sort((a, b) => compare(a.id, b.id)).map(extractedLicense);
  return doc;
}
