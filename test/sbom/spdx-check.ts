/**
 * An SPDX 2.3 JSON checker for the tests, written from the specification
 * (https://spdx.github.io/spdx-spec/v2.3/): a JSON schema of the members eib
 * may write — required fields, the SPDXID, date, checksum and enum formats,
 * and no member outside the spec — validated with ajv, plus the rules a
 * schema cannot say: unique ids, relationships between existing elements, a
 * DESCRIBES from the document, and license expressions made of listed ids
 * or LicenseRefs the document defines.
 */
import { Ajv } from 'ajv';

const DATE = '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\dZ$';
const ELEMENT_ID = '^SPDXRef-[A-Za-z0-9.-]+$';

const checksum = {
  type: 'object',
  required: ['algorithm', 'checksumValue'],
  additionalProperties: false,
  properties: {
    algorithm: { enum: ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'SHA3-256', 'SHA3-384', 'SHA3-512', 'BLAKE2b-256', 'BLAKE2b-384', 'BLAKE2b-512', 'BLAKE3', 'MD2', 'MD4', 'MD5', 'MD6', 'ADLER32'] },
    checksumValue: { type: 'string', pattern: '^[0-9a-f]+$' },
  },
};

const agent = { type: 'string', pattern: '^(NOASSERTION|(Person|Organization): .+)$' };

const pkg = {
  type: 'object',
  // spec 7.8/7.9: filesAnalyzed defaults to true, which requires a packageVerificationCode and files;
  // this subset has neither, so a package must say filesAnalyzed: false.
  required: ['SPDXID', 'name', 'downloadLocation', 'filesAnalyzed'],
  additionalProperties: false,
  properties: {
    SPDXID: { type: 'string', pattern: ELEMENT_ID },
    name: { type: 'string', minLength: 1 },
    versionInfo: { type: 'string' },
    packageFileName: { type: 'string' },
    supplier: agent,
    originator: agent,
    downloadLocation: { type: 'string', pattern: '^(NONE|NOASSERTION|(https?|ftp|git\\+https?|file)://\\S+)$' },
    filesAnalyzed: { const: false },
    checksums: { type: 'array', items: checksum },
    homepage: { type: 'string', pattern: '^(NONE|NOASSERTION|https?://\\S+)$' },
    sourceInfo: { type: 'string' },
    licenseConcluded: { type: 'string', minLength: 1 },
    licenseDeclared: { type: 'string', minLength: 1 },
    licenseComments: { type: 'string' },
    copyrightText: { type: 'string' },
    summary: { type: 'string' },
    description: { type: 'string' },
    comment: { type: 'string' },
    builtDate: { type: 'string', pattern: DATE },
    primaryPackagePurpose: { enum: ['APPLICATION', 'FRAMEWORK', 'LIBRARY', 'CONTAINER', 'OPERATING-SYSTEM', 'DEVICE', 'FIRMWARE', 'SOURCE', 'ARCHIVE', 'FILE', 'INSTALL', 'OTHER'] },
    externalRefs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['referenceCategory', 'referenceType', 'referenceLocator'],
        additionalProperties: false,
        properties: {
          referenceCategory: { enum: ['SECURITY', 'PACKAGE-MANAGER', 'PERSISTENT-ID', 'OTHER'] },
          referenceType: { type: 'string', minLength: 1 },
          referenceLocator: { type: 'string', pattern: '^\\S+$' },
          comment: { type: 'string' },
        },
      },
    },
  },
};

const RELATIONSHIP_TYPES = [
  'DESCRIBES', 'DESCRIBED_BY', 'CONTAINS', 'CONTAINED_BY', 'DEPENDS_ON', 'DEPENDENCY_OF', 'DEPENDENCY_MANIFEST_OF', 'BUILD_DEPENDENCY_OF',
  'DEV_DEPENDENCY_OF', 'OPTIONAL_DEPENDENCY_OF', 'PROVIDED_DEPENDENCY_OF', 'TEST_DEPENDENCY_OF', 'RUNTIME_DEPENDENCY_OF', 'EXAMPLE_OF',
  'GENERATES', 'GENERATED_FROM', 'ANCESTOR_OF', 'DESCENDANT_OF', 'VARIANT_OF', 'DISTRIBUTION_ARTIFACT', 'PATCH_FOR', 'PATCH_APPLIED',
  'COPY_OF', 'FILE_ADDED', 'FILE_DELETED', 'FILE_MODIFIED', 'EXPANDED_FROM_ARCHIVE', 'DYNAMIC_LINK', 'STATIC_LINK', 'DATA_FILE_OF',
  'TEST_CASE_OF', 'BUILD_TOOL_OF', 'DEV_TOOL_OF', 'TEST_OF', 'TEST_TOOL_OF', 'DOCUMENTATION_OF', 'OPTIONAL_COMPONENT_OF', 'METAFILE_OF',
  'PACKAGE_OF', 'AMENDS', 'PREREQUISITE_FOR', 'HAS_PREREQUISITE', 'REQUIREMENT_DESCRIPTION_FOR', 'SPECIFICATION_FOR', 'OTHER',
];

export const SPDX_23_SCHEMA = {
  type: 'object',
  required: ['spdxVersion', 'dataLicense', 'SPDXID', 'name', 'documentNamespace', 'creationInfo'],
  additionalProperties: false,
  properties: {
    spdxVersion: { const: 'SPDX-2.3' },
    dataLicense: { const: 'CC0-1.0' },
    SPDXID: { const: 'SPDXRef-DOCUMENT' },
    name: { type: 'string', minLength: 1 },
    // spec 6.5: an absolute URI without a "#" part.
    documentNamespace: { type: 'string', pattern: '^[a-z][a-z0-9+.-]*:[^#\\s]+$' },
    comment: { type: 'string' },
    creationInfo: {
      type: 'object',
      required: ['created', 'creators'],
      additionalProperties: false,
      properties: {
        created: { type: 'string', pattern: DATE },
        creators: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(Person|Organization|Tool): .+$' } },
        comment: { type: 'string' },
        licenseListVersion: { type: 'string', pattern: '^\\d+\\.\\d+$' },
      },
    },
    packages: { type: 'array', items: pkg },
    hasExtractedLicensingInfos: {
      type: 'array',
      items: {
        type: 'object',
        required: ['licenseId', 'extractedText'],
        additionalProperties: false,
        properties: {
          licenseId: { type: 'string', pattern: '^LicenseRef-[A-Za-z0-9.-]+$' },
          extractedText: { type: 'string', minLength: 1 },
          name: { type: 'string' },
          comment: { type: 'string' },
          seeAlsos: { type: 'array', items: { type: 'string' } },
        },
      },
    },
    relationships: {
      type: 'array',
      items: {
        type: 'object',
        required: ['spdxElementId', 'relationshipType', 'relatedSpdxElement'],
        additionalProperties: false,
        properties: {
          spdxElementId: { type: 'string' },
          relationshipType: { enum: RELATIONSHIP_TYPES },
          relatedSpdxElement: { type: 'string' },
          comment: { type: 'string' },
        },
      },
    },
  },
};

const validate = new Ajv({ allErrors: true, strict: true }).compile(SPDX_23_SCHEMA);

interface Doc {
  packages?: { SPDXID: string; licenseConcluded?: string; licenseDeclared?: string }[];
  hasExtractedLicensingInfos?: { licenseId: string }[];
  relationships?: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
}

/**
 * Annex D grammar, checked independently of eib's converter: ids are
 * idstrings (optionally with "+"), operators upper case, parentheses
 * balanced, WITH only after a license; `isLicense` decides what an id may be.
 */
export function expressionProblem(expr: string, isLicense: (id: string) => boolean, isException: (id: string) => boolean): string | undefined {
  if (expr === 'NOASSERTION' || expr === 'NONE') return undefined;
  const tokens = expr.match(/[()]|[^\s()]+/g) ?? [];
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at token ${at} of "${expr}"`);
  };
  const simple = (): void => {
    const t = tokens[at++];
    if (t === '(') {
      compound();
      if (tokens[at++] !== ')') fail('unbalanced parenthesis');
      return;
    }
    if (t === undefined || !/^[A-Za-z0-9.-]+\+?$/.test(t) || ['AND', 'OR', 'WITH'].includes(t)) fail(`expected a license id, got ${String(t)}`);
    if (!isLicense(t!.replace(/\+$/, ''))) fail(`${t} is neither a listed license nor a defined LicenseRef`);
    if (tokens[at] === 'WITH') {
      at++;
      const ex = tokens[at++];
      if (ex === undefined || !isException(ex)) fail(`${String(ex)} is not a listed exception`);
    }
  };
  const compound = (): void => {
    simple();
    while (tokens[at] === 'AND' || tokens[at] === 'OR') {
      at++;
      simple();
    }
  };
  try {
    compound();
    if (at !== tokens.length) fail('trailing tokens');
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Every problem found in `doc`; empty when it is a valid SPDX 2.3 document. */
export function spdxProblems(doc: unknown, licenseIds: readonly string[], exceptionIds: readonly string[]): string[] {
  const problems: string[] = [];
  if (!validate(doc)) {
    for (const e of validate.errors ?? []) problems.push(`schema: ${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
    return problems;
  }
  const d = doc as Doc;
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const p of d.packages ?? []) {
    if (ids.has(p.SPDXID)) problems.push(`duplicate SPDXID ${p.SPDXID}`);
    ids.add(p.SPDXID);
  }
  const refs = new Set((d.hasExtractedLicensingInfos ?? []).map((l) => l.licenseId));
  if (refs.size !== (d.hasExtractedLicensingInfos ?? []).length) problems.push('duplicate licenseId in hasExtractedLicensingInfos');
  const listed = new Set(licenseIds);
  const exceptions = new Set(exceptionIds);
  const usedRefs = new Set<string>();
  const isLicense = (id: string): boolean => {
    if (id.startsWith('LicenseRef-')) {
      usedRefs.add(id);
      return refs.has(id);
    }
    return listed.has(id);
  };
  for (const p of d.packages ?? []) {
    for (const expr of [p.licenseConcluded, p.licenseDeclared]) {
      const problem = expr === undefined ? undefined : expressionProblem(expr, isLicense, (x) => exceptions.has(x));
      if (problem) problems.push(`${p.SPDXID}: ${problem}`);
    }
  }
  for (const r of refs) if (!usedRefs.has(r)) problems.push(`${r} is defined but no package uses it`);
  for (const r of d.relationships ?? []) {
    for (const end of [r.spdxElementId, r.relatedSpdxElement]) if (!ids.has(end)) problems.push(`relationship ${JSON.stringify(r)} names unknown element ${end}`);
  }
  if (!(d.relationships ?? []).some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES')) {
    problems.push('the document DESCRIBES nothing (spec 11.1 needs at least one DESCRIBES relationship)');
  }
  return problems;
}
