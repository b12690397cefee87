/**
 * spdxDocument on real Alpine data: the package database of the aarch64
 * minirootfs (read out of the tarball with the image-file reader, as from a
 * layer) and every package of Alpine's own 3.17 main/aarch64 APKINDEX.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { indexLines, parseInstalled, type InstalledPackage } from '../../src/apk/database.js';
import { readApkIndex } from '../../src/apk/index-file.js';
import { loadKeys } from '../../src/apk/keys.js';
import { MediaType } from '../../src/oci/types.js';
import { readImageFile } from '../../src/sbom/image-file.js';
import { spdxLicense } from '../../src/sbom/license.js';
import { SPDX_EXCEPTION_IDS, SPDX_LICENSE_IDS } from '../../src/sbom/license-ids.js';
import { spdxDocument, type SpdxInput } from '../../src/sbom/spdx.js';
import type { SpdxDocument, SpdxPackage } from '../../src/sbom/types.js';
import { SHARED_ALPINE } from '../helpers/user.js';
import { spdxProblems } from './spdx-check.js';

const MINIROOTFS = join(SHARED_ALPINE, 'minirootfs', 'alpine-minirootfs-3.20.3-aarch64.tar.gz');
const REAL_INDEX = join(SHARED_ALPINE, 'real', 'v3.17', 'main', 'aarch64', 'APKINDEX.tar.gz');
const haveMinirootfs = existsSync(MINIROOTFS);
const DIGEST = 'sha256:1111111111111111111111111111111111111111111111111111111111111111';

let dbText: string | undefined;
async function minirootfsDb(): Promise<string> {
  if (dbText === undefined) {
    const found = await readImageFile([{ name: 'minirootfs', mediaType: MediaType.LayerGzip, open: () => createReadStream(MINIROOTFS) }], 'lib/apk/db/installed');
    assert.equal(found.kind, 'found');
    dbText = (found as { content: Buffer }).content.toString('utf8');
  }
  return dbText;
}

function input(packages: readonly InstalledPackage[], extra: Partial<SpdxInput> = {}): SpdxInput {
  return {
    name: 'demo',
    arch: 'aarch64',
    packages,
    created: '2023-11-14T22:13:20.000Z',
    namespace: `https://spdx.org/spdxdocs/eib/demo-aarch64-${DIGEST.slice(7)}`,
    image: { digest: DIGEST, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    creators: ['Tool: eib-test'],
    ...extra,
  };
}

const byName = (doc: SpdxDocument, name: string): SpdxPackage => {
  const found = doc.packages.find((p) => p.name === name && p.SPDXID !== 'SPDXRef-Image');
  assert.ok(found, `${name} missing from the SBOM`);
  return found;
};

function dependsOn(doc: SpdxDocument, from: string): string[] {
  const id = byName(doc, from).SPDXID;
  const names = new Map(doc.packages.map((p) => [p.SPDXID, p.name]));
  return doc.relationships.filter((r) => r.relationshipType === 'DEPENDS_ON' && r.spdxElementId === id).map((r) => names.get(r.relatedSpdxElement)!);
}

test('the minirootfs SBOM is valid SPDX 2.3 and lists exactly the packages of its lib/apk/db/installed', { skip: !haveMinirootfs && 'minirootfs not present' }, async () => {
  const text = await minirootfsDb();
  const doc = spdxDocument(input(parseInstalled(text)));
  assert.deepEqual(spdxProblems(doc, SPDX_LICENSE_IDS, SPDX_EXCEPTION_IDS), []);
  // The names as the database spells them, read without eib's parser.
  const inDb = text.split('\n').filter((l) => l.startsWith('P:')).map((l) => l.slice(2)).sort();
  assert.equal(inDb.length, 14);
  assert.deepEqual(doc.packages.filter((p) => p.SPDXID !== 'SPDXRef-Image').map((p) => p.name), inDb);
  assert.equal(doc.creationInfo.created, '2023-11-14T22:13:20Z');
  const describes = doc.relationships.filter((r) => r.relationshipType === 'DESCRIBES');
  assert.deepEqual(describes, [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' }]);
  assert.equal(doc.relationships.filter((r) => r.relationshipType === 'CONTAINS' && r.spdxElementId === 'SPDXRef-Image').length, 14);
});

test('package fields come from the apk metadata: license, supplier, origin, checksum, purl, dependencies through provides', { skip: !haveMinirootfs && 'minirootfs not present' }, async () => {
  const doc = spdxDocument(input(parseInstalled(await minirootfsDb())));
  const busybox = byName(doc, 'busybox');
  assert.equal(busybox.versionInfo, '1.36.1-r29');
  assert.equal(busybox.licenseDeclared, 'GPL-2.0-only');
  assert.equal(busybox.licenseConcluded, 'NOASSERTION');
  assert.equal(busybox.supplier, 'Person: Sören Tempel (soeren+alpine@soeren-tempel.net)');
  assert.equal(busybox.homepage, 'https://busybox.net/');
  assert.equal(busybox.builtDate, new Date(1718003507 * 1000).toISOString().replace('.000Z', 'Z'));
  // C:Q1PZ3T+4Hk9em7LUMOn+9ZggOsfIA= is base64 of the SHA-1.
  assert.deepEqual(busybox.checksums, [{ algorithm: 'SHA1', checksumValue: Buffer.from('PZ3T+4Hk9em7LUMOn+9ZggOsfIA=', 'base64').toString('hex') }]);
  assert.deepEqual(busybox.externalRefs?.map((r) => r.referenceLocator), ['pkg:apk/alpine/busybox@1.36.1-r29?arch=aarch64&upstream=busybox']);
  assert.match(byName(doc, 'busybox-binsh').sourceInfo ?? '', /origin package busybox \(aports commit 1747c01f/);
  assert.equal(byName(doc, 'ca-certificates-bundle').licenseDeclared, 'MPL-2.0 AND MIT');
  assert.equal(byName(doc, 'musl-utils').licenseDeclared, 'MIT AND BSD-2-Clause AND GPL-2.0-or-later');
  assert.equal(byName(doc, 'ssl_client').SPDXID.startsWith('SPDXRef-Package-apk-ssl-client-1.36.1-r29-'), true);

  // D: entries resolved by name (versioned), so: and cmd: provides, and a path provide (/bin/sh).
  assert.deepEqual(dependsOn(doc, 'alpine-baselayout'), ['alpine-baselayout-data', 'busybox-binsh']);
  assert.deepEqual(dependsOn(doc, 'apk-tools').sort(), ['ca-certificates-bundle', 'libcrypto3', 'libssl3', 'musl', 'zlib']);
  assert.deepEqual(dependsOn(doc, 'busybox'), ['musl']);
  assert.deepEqual(dependsOn(doc, 'musl'), []);
  assert.equal(doc.packages.some((p) => p.comment?.startsWith('dependencies no installed package')), false);
});

test('the same packages give byte-identical documents, whatever their order', { skip: !haveMinirootfs && 'minirootfs not present' }, async () => {
  const packages = parseInstalled(await minirootfsDb());
  const a = JSON.stringify(spdxDocument(input(packages)));
  const b = JSON.stringify(spdxDocument(input([...packages].reverse())));
  assert.equal(a, b);
  assert.notEqual(JSON.stringify(spdxDocument(input(packages, { created: '2023-11-14T22:13:21Z' }))), a);
});

test('a dependency nothing installed satisfies is named in the package comment, not invented', () => {
  const pkg = (name: string, lines: string[]): InstalledPackage => ({
    ...parseInstalled(['C:Q1PZ3T+4Hk9em7LUMOn+9ZggOsfIA=', `P:${name}`, 'V:1.0-r0', ...lines, ''].join('\n'))[0]!,
  });
  const doc = spdxDocument(input([pkg('app', ['D:lib>=2 so:libmissing.so.1 !conflicting']), pkg('lib', ['p:so:libmissing.so.2=2'])]));
  assert.deepEqual(spdxProblems(doc, SPDX_LICENSE_IDS, SPDX_EXCEPTION_IDS), []);
  assert.equal(byName(doc, 'app').comment, 'dependencies no installed package satisfies: lib>=2 so:libmissing.so.1');
  assert.deepEqual(dependsOn(doc, 'app'), []);
});

test('names that need escaping still get distinct SPDX ids', () => {
  const pkg = (name: string): InstalledPackage => parseInstalled(`C:Q1PZ3T+4Hk9em7LUMOn+9ZggOsfIA=\nP:${name}\nV:1.0-r0\nL:MIT\n`)[0]!;
  const doc = spdxDocument(input(['libstdc++', 'libstdc--', 'py3_x', 'py3-x'].map(pkg)));
  assert.deepEqual(spdxProblems(doc, SPDX_LICENSE_IDS, SPDX_EXCEPTION_IDS), []);
  assert.equal(new Set(doc.packages.map((p) => p.SPDXID)).size, 5);
  assert.equal(byName(doc, 'libstdc++').externalRefs?.[0]?.referenceLocator, 'pkg:apk/alpine/libstdc%2B%2B@1.0-r0?arch=aarch64');
});

test('apk license fields become SPDX expressions', () => {
  const cases: [string, string, string[]][] = [
    ['MIT', 'MIT', []],
    ['mit', 'MIT', []],
    ['GPL-2.0-only or MIT', 'GPL-2.0-only OR MIT', []],
    ['(GPL-2.0-or-later OR Artistic-1.0-Perl) AND GPL-2.0-or-later AND ZLib', '(GPL-2.0-or-later OR Artistic-1.0-Perl) AND GPL-2.0-or-later AND Zlib', []],
    ['MIT OR Apache-2.0 AND BSD-3-Clause', 'MIT OR (Apache-2.0 AND BSD-3-Clause)', []],
    ['GPL-2.0+', 'GPL-2.0+', []],
    ['GPL-2.0-or-later LGPL-2.1-or-later', 'GPL-2.0-or-later AND LGPL-2.1-or-later', []],
    ['GPL-2.0-or-later WITH Linux-syscall-note', 'GPL-2.0-or-later WITH Linux-syscall-note', []],
    ['BSD-2-Clause AND custom', 'BSD-2-Clause AND LicenseRef-apk-custom', ['custom']],
    ['BSD-2-Clause AND BSD-3-Clause AND Public-Domain', 'BSD-2-Clause AND BSD-3-Clause AND LicenseRef-apk-Public-Domain', ['Public-Domain']],
    ['', 'NOASSERTION', []],
  ];
  for (const [apk, expression, refs] of cases) {
    const got = spdxLicense(apk);
    assert.equal(got.expression, expression, apk);
    assert.deepEqual(got.refs.map((r) => r.text), refs, apk);
  }
  // Not an expression at all, or an exception SPDX does not list: one LicenseRef for the whole text.
  for (const apk of ['GPL custom:OFL', 'AGPL-3.0-or-later WITH OpenSSL-Exception', 'BSD with advertising', 'MIT AND (BSD-2-Clause']) {
    const got = spdxLicense(apk);
    assert.match(got.expression, /^LicenseRef-apk-[A-Za-z0-9.-]+$/, apk);
    assert.deepEqual(got.refs, [{ id: got.expression, text: apk }]);
  }
  assert.equal(spdxLicense('GPL custom:OFL').expression, spdxLicense('GPL custom:OFL').expression);
  assert.notEqual(spdxLicense('GPL custom:OFL').expression, spdxLicense('GPL custom-OFL').expression);
});

test('every package of the real Alpine 3.17 main index makes one valid SPDX document', { skip: !existsSync(REAL_INDEX) && 'real index not present' }, async () => {
  const keys = loadKeys([join(SHARED_ALPINE, 'real', 'keys')]);
  const index = await readApkIndex(createReadStream(REAL_INDEX), { what: REAL_INDEX, repository: 'https://dl-cdn.alpinelinux.org/alpine/v3.17/main', keys });
  assert.ok(index.packages.length > 5000);
  const installed = parseInstalled(index.packages.map((p) => `${indexLines(p, p.checksum).join('\n')}\n`).join('\n'));
  const doc = spdxDocument(input(installed));
  assert.deepEqual(spdxProblems(doc, SPDX_LICENSE_IDS, SPDX_EXCEPTION_IDS), []);
  assert.equal(doc.packages.length, index.packages.length + 1);
  const declared = doc.packages.map((p) => p.licenseDeclared);
  // Most Alpine license fields are SPDX expressions, or become one (4200 of the 5004 in this index).
  const listedOnly = declared.filter((l) => !l.includes('LicenseRef-')).length;
  assert.ok(listedOnly / declared.length > 0.8, `only ${listedOnly} of ${declared.length} licenses are SPDX-listed expressions`);
  const deps = doc.relationships.filter((r) => r.relationshipType === 'DEPENDS_ON').length;
  assert.ok(deps > 10_000, `${deps} DEPENDS_ON relationships`);
});
