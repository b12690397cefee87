/**
 * SPDX 2.3 JSON types: the subset of the document model eib writes
 * (https://spdx.github.io/spdx-spec/v2.3/: document creation information,
 * packages, other licensing information, relationships).
 */

/** The media type of an SPDX JSON document (also the SBOM artifact's type). */
export const SPDX_JSON_MEDIA_TYPE = 'application/spdx+json';

/** "NOASSERTION": the creator made no attempt to determine the value, or left it open. */
export const NOASSERTION = 'NOASSERTION';

/** spec 7.10: checksum algorithms eib emits. */
export type SpdxChecksumAlgorithm = 'SHA1' | 'SHA256';

export interface SpdxChecksum {
  algorithm: SpdxChecksumAlgorithm;
  /** Lower-case hex. */
  checksumValue: string;
}

/** spec 7.21 and Annex F: external references. */
export interface SpdxExternalRef {
  referenceCategory: 'PACKAGE-MANAGER' | 'SECURITY' | 'PERSISTENT-ID' | 'OTHER';
  referenceType: string;
  referenceLocator: string;
  comment?: string;
}

/** spec 7: one package. */
export interface SpdxPackage {
  /** "SPDXRef-" + letters, digits, "." and "-". */
  SPDXID: string;
  name: string;
  versionInfo?: string;
  packageFileName?: string;
  /** "Person: name (email)", "Organization: …", or NOASSERTION. */
  supplier?: string;
  originator?: string;
  /** A URL, NONE or NOASSERTION. */
  downloadLocation: string;
  /** false: the package's files were not analysed, so no verification code. */
  filesAnalyzed: boolean;
  checksums?: SpdxChecksum[];
  homepage?: string;
  sourceInfo?: string;
  /** License expressions (Annex D), NONE or NOASSERTION. */
  licenseConcluded: string;
  licenseDeclared: string;
  licenseComments?: string;
  copyrightText: string;
  summary?: string;
  description?: string;
  comment?: string;
  externalRefs?: SpdxExternalRef[];
  primaryPackagePurpose?: 'APPLICATION' | 'FRAMEWORK' | 'LIBRARY' | 'CONTAINER' | 'OPERATING-SYSTEM' | 'DEVICE' | 'FIRMWARE' | 'SOURCE' | 'ARCHIVE' | 'FILE' | 'INSTALL' | 'OTHER';
  /** RFC 3339 UTC, seconds ("YYYY-MM-DDThh:mm:ssZ"). */
  builtDate?: string;
}

/** spec 10: a license that is not on the SPDX License List. */
export interface SpdxExtractedLicense {
  /** "LicenseRef-" + letters, digits, "." and "-". */
  licenseId: string;
  extractedText: string;
  name?: string;
  comment?: string;
}

/** spec 11: the relationship types eib emits. */
export type SpdxRelationshipType = 'DESCRIBES' | 'CONTAINS' | 'DEPENDS_ON';

export interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: SpdxRelationshipType;
  relatedSpdxElement: string;
  comment?: string;
}

/** spec 6: document creation information, plus the element lists. */
export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: {
    /** RFC 3339 UTC, seconds. */
    created: string;
    creators: string[];
    comment?: string;
  };
  comment?: string;
  packages: SpdxPackage[];
  hasExtractedLicensingInfos?: SpdxExtractedLicense[];
  relationships: SpdxRelationship[];
}
