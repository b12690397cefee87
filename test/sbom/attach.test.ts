/**
 * The SBOM of a built image, end to end: a two-arch image whose x86_64
 * stages ran the real apk-tools (deleting a package), `eib sbom` as the
 * unprivileged user, attachSbom from the library, and independent readers
 * of the layout afterwards (skopeo, umoci). The package list is compared
 * with what the real `apk info` reported inside the image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseInstalled } from '../../src/apk/database.js';
import { loadKeys } from '../../src/apk/keys.js';
import { openRepository } from '../../src/apk/repository.js';
import { sharedGet } from '../../src/remote/shared-get.js';
import type { PackageInfo } from '../../src/apk/types.js';
import { apkMetadata } from '../../src/sbom/apk-metadata.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { encodeHeader, END_OF_ARCHIVE, type TarHeader } from '../../src/layer/tar-header.js';
import { Annotation, MediaType, type Descriptor, type ImageIndex, type ImageManifest } from '../../src/oci/types.js';
import { attachSbom, readAttachedSbom } from '../../src/sbom/attach.js';
import { SPDX_EXCEPTION_IDS, SPDX_LICENSE_IDS } from '../../src/sbom/license-ids.js';
import type { SpdxDocument } from '../../src/sbom/types.js';
import { OciLayout } from '../../src/store/layout.js';
import { loadSigningKey, writeApkIndex } from '../helpers/apk-builder.js';
import { runEib } from '../helpers/cli.js';
import { REPO_ROOT, SHARED_ALPINE, asUser, testUser, userTempDir } from '../helpers/user.js';
import { spdxProblems } from './spdx-check.js';

const TARBALL = (arch: string): string => join(SHARED_ALPINE, 'minirootfs', `alpine-minirootfs-3.20.3-${arch}.tar.gz`);
const have = existsSync(TARBALL('x86_64')) && existsSync(TARBALL('aarch64'));
const skip = !have && 'minirootfs tarballs not present';
const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const SPDX = 'application/spdx+json';

interface Project {
  dir: string;
  oci: string;
  apkInfo: string[];
  manifests: { aarch64: string; x86_64: string };
}

let project: Project | undefined;

/** A project whose image make-image.js wrote as the test user. */
function madeProject(): Project {
  if (project) return project;
  const dir = userTempDir('eib-sbom-');
  writeFileSync(
    join(dir, 'eib.yaml'),
    [
      'name: sbom-demo',
      'arch: [aarch64, x86_64]',
      'epoch: 1700000000',
      'alpine:',
      `  repositories: [${join(SHARED_ALPINE, 'repo', 'v3.20', 'main')}]`,
      `  keys: [${join(SHARED_ALPINE, 'keys')}]`,
      'stages:',
      '  - name: base',
      '    packages: [alpine-baselayout, busybox, apk-tools, alpine-keys]',
      '  - name: configure',
      '    run: apk del alpine-keys',
      '  - name: prune',
      '    remove: [/etc/motd, /usr/share/udhcpc]',
      'outputs:',
      '  oci: out/oci',
      '  tag: latest',
      'cache:',
      '  dir: ./cache',
      '',
    ].join('\n'),
  );
  userOwns(dir);
  const argv = [...asUser(), process.execPath, join(REPO_ROOT, 'dist', 'test', 'sbom', 'make-image.js'), dir, TARBALL('x86_64'), TARBALL('aarch64'), 'alpine-keys'];
  const out = execFileSync(argv[0]!, argv.slice(1), { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const made = JSON.parse(out) as Omit<Project, 'dir' | 'oci'>;
  project = { dir, oci: join(dir, 'out', 'oci'), ...made };
  return project;
}

/** Files this (root) process wrote in the project go back to the test user. */
function userOwns(dir: string): void {
  const user = testUser();
  if (!user.self) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
}

function indexJson(p: Project): ImageIndex {
  return JSON.parse(readFileSync(join(p.oci, 'index.json'), 'utf8')) as ImageIndex;
}

function blob(p: Project, digest: string): Buffer {
  return readFileSync(join(p.oci, 'blobs', 'sha256', digest.replace('sha256:', '')));
}

function referrers(p: Project): Descriptor[] {
  return indexJson(p).manifests.filter((d) => d.artifactType === SPDX);
}

function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8' });
}

/** What skopeo sees of the tagged image, per arch. */
function skopeoView(p: Project): string {
  const raw = skopeo(['inspect', '--raw', `oci:${p.oci}:latest`]);
  const arches = ['arm64', 'amd64'].map((a) => skopeo(['--override-arch', a, 'inspect', `oci:${p.oci}:latest`]));
  return JSON.stringify([raw, ...arches.map((a) => JSON.parse(a) as unknown)]);
}

function apkNames(doc: SpdxDocument): string[] {
  return doc.packages.filter((x) => x.SPDXID !== 'SPDXRef-Image').map((x) => x.name);
}

function validSpdx(doc: unknown): void {
  assert.deepEqual(spdxProblems(doc, SPDX_LICENSE_IDS, SPDX_EXCEPTION_IDS), []);
}

test('eib sbom attaches the SBOM as a referrer of the arch manifest and prints the packages apk reports in the image', { skip, timeout: 300_000 }, async () => {
  const p = madeProject();
  const before = skopeoView(p);
  const tagEntry = indexJson(p).manifests[0];

  const r = await runEib(['sbom', '--arch', 'x86_64'], { cwd: p.dir });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as SpdxDocument;
  validSpdx(doc);
  assert.deepEqual(apkNames(doc), [...p.apkInfo].sort());
  assert.ok(!apkNames(doc).includes('alpine-keys'), 'the package the configure stage deleted is not listed');
  assert.equal(doc.packages[0]!.versionInfo, p.manifests.x86_64);
  assert.equal(doc.creationInfo.created, '2023-11-14T22:13:20Z');

  // The tag still names the same image; one more, untagged, entry: the referrer.
  const index = indexJson(p);
  assert.deepEqual(index.manifests[0], tagEntry);
  assert.equal(index.manifests.length, 2);
  const entry = index.manifests[1]!;
  assert.equal(entry.mediaType, MediaType.ImageManifest);
  assert.equal(entry.annotations?.[Annotation.RefName], undefined);
  const artifact = JSON.parse(blob(p, entry.digest).toString('utf8')) as ImageManifest;
  assert.equal(artifact.schemaVersion, 2);
  assert.equal(artifact.mediaType, MediaType.ImageManifest);
  assert.equal(artifact.artifactType, SPDX);
  assert.deepEqual(artifact.config, { mediaType: MediaType.Empty, digest: EMPTY_JSON_DIGEST, size: 2 });
  assert.equal(blob(p, EMPTY_JSON_DIGEST).toString(), '{}');
  assert.equal(artifact.subject?.digest, p.manifests.x86_64);
  assert.equal(artifact.subject?.size, blob(p, p.manifests.x86_64).length);
  assert.equal(artifact.layers.length, 1);
  assert.equal(artifact.layers[0]!.mediaType, SPDX);
  assert.equal(blob(p, artifact.layers[0]!.digest).toString('utf8'), r.stdout, 'eib sbom prints the attached document byte for byte');
  assert.equal(`sha256:${createHash('sha256').update(blob(p, entry.digest)).digest('hex')}`, entry.digest);

  assert.equal(skopeoView(p), before, 'skopeo sees the same image after the SBOM is attached');
  assert.deepEqual(execFileSync('umoci', ['ls', '--layout', p.oci], { encoding: 'utf8' }).trim().split('\n'), ['latest']);

  // Printing again reads the attached SBOM: same bytes, index untouched.
  const indexBytes = readFileSync(join(p.oci, 'index.json'));
  const again = await runEib(['sbom', '--arch', 'x86_64'], { cwd: p.dir });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, r.stdout);
  assert.deepEqual(readFileSync(join(p.oci, 'index.json')), indexBytes);

  const noArch = await runEib(['sbom'], { cwd: p.dir });
  assert.equal(noArch.code, 2);
  assert.match(noArch.stderr, /aarch64, x86_64: choose one with --arch/);
});

test('attachSbom makes one SBOM per arch, byte-identical when attached again, and the layout stays valid for umoci and skopeo', { skip, timeout: 300_000 }, async () => {
  const p = madeProject();
  const config = await loadConfig({ path: join(p.dir, 'eib.yaml'), cwd: p.dir });
  const first = await attachSbom(config);
  const second = await attachSbom(config);
  userOwns(p.dir);
  assert.deepEqual(first.map((a) => a.arch), ['aarch64', 'x86_64']);
  for (let i = 0; i < 2; i++) {
    assert.ok(first[i]!.bytes.equals(second[i]!.bytes), `${first[i]!.arch}: the same image gives the same SBOM bytes`);
    assert.deepEqual(first[i]!.descriptor, second[i]!.descriptor);
    assert.equal(first[i]!.subject.digest, p.manifests[first[i]!.arch as 'aarch64' | 'x86_64']);
    validSpdx(first[i]!.sbom);
  }
  assert.deepEqual(referrers(p).map((d) => d.digest).sort(), first.map((a) => a.descriptor.digest).sort(), 'one referrer per arch, none duplicated');

  // aarch64: the untouched minirootfs, compared with its database read by GNU tar.
  const db = execFileSync('tar', ['-xzOf', TARBALL('aarch64'), './lib/apk/db/installed'], { encoding: 'utf8' });
  const names = db.split('\n').filter((l) => l.startsWith('P:')).map((l) => l.slice(2)).sort();
  assert.deepEqual(apkNames(first[0]!.sbom), names);
  assert.ok(names.includes('alpine-keys'));

  // umoci gc keeps the referrers (index.json entries are roots); skopeo copies the image.
  execFileSync('umoci', ['gc', '--layout', p.oci]);
  for (const a of first) {
    const artifact = JSON.parse(blob(p, a.descriptor.digest).toString('utf8')) as ImageManifest;
    assert.ok(blob(p, artifact.layers[0]!.digest).equals(a.bytes));
  }
  const copy = join(userTempDir('eib-sbom-copy-'), 'oci');
  skopeo(['copy', '--all', `oci:${p.oci}:latest`, `oci:${copy}:latest`]);
  assert.equal(skopeo(['inspect', '--raw', `oci:${copy}:latest`]), skopeo(['inspect', '--raw', `oci:${p.oci}:latest`]));
});

/** A gzip layer that removes /lib/apk/db, as a prune stage deleting the package database would. */
async function stripDbLayer(layout: OciLayout): Promise<{ descriptor: Descriptor; diffId: string }> {
  const h = (path: string, type: TarHeader['type']): TarHeader => ({ path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() });
  const tar = Buffer.concat([encodeHeader(h('lib', 'dir')), encodeHeader(h('lib/apk', 'dir')), encodeHeader(h('lib/apk/.wh.db', 'file')), END_OF_ARCHIVE]);
  const ref = await layout.blobs.put(Readable.from([tar]).pipe(createGzip()));
  return { descriptor: { mediaType: MediaType.LayerGzip, ...ref, annotations: { [Annotation.Stage]: 'strip' } }, diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}` };
}

test('after a rebuild, attaching replaces the SBOM of the old image; a removed package database is reported, with the packages last installed', { skip, timeout: 300_000 }, async () => {
  const p = madeProject();
  const config: Config = await loadConfig({ path: join(p.dir, 'eib.yaml'), cwd: p.dir });
  const old = await attachSbom(config);
  const oldX86 = old.find((a) => a.arch === 'x86_64')!;
  const oldLayer = (JSON.parse(blob(p, oldX86.descriptor.digest).toString('utf8')) as ImageManifest).layers[0]!.digest;

  // "Rebuild": the x86_64 image gains a stage that deletes /lib/apk/db; aarch64 is unchanged.
  const layout = await OciLayout.open(p.oci);
  const tagged = await layout.resolve('latest');
  const index = await layout.blobs.readJson<ImageIndex>(tagged.digest);
  const x86Desc = index.manifests.find((m) => m.digest === p.manifests.x86_64)!;
  const x86 = await layout.readManifest(x86Desc);
  const imageConfig = await layout.readConfig(x86);
  const strip = await stripDbLayer(layout);
  imageConfig.rootfs.diff_ids.push(strip.diffId as `sha256:${string}`);
  imageConfig.history?.push({ created: imageConfig.created!, created_by: 'eib stage strip: remove', comment: 'eib stage strip' });
  const newConfig = await layout.blobs.putJson(imageConfig, MediaType.ImageConfig);
  const newX86 = await layout.putManifest({ ...x86, config: newConfig, layers: [...x86.layers, strip.descriptor] });
  const newIndex: ImageIndex = { ...index, manifests: index.manifests.map((m) => (m.digest === x86Desc.digest ? { ...newX86, platform: x86Desc.platform! } : m)) };
  await layout.setTag('latest', await layout.blobs.putJson(newIndex, MediaType.ImageIndex));

  const now = await attachSbom(config);
  userOwns(p.dir);
  const nowX86 = now.find((a) => a.arch === 'x86_64')!;
  assert.equal(nowX86.subject.digest, newX86.digest);
  assert.deepEqual(referrers(p).map((d) => d.annotations?.['dev.eib.referrer.subject']).sort(), [p.manifests.aarch64, newX86.digest].sort());
  assert.equal(existsSync(join(p.oci, 'blobs', 'sha256', oldX86.descriptor.digest.slice(7))), false, 'the replaced artifact manifest is deleted');
  assert.equal(existsSync(join(p.oci, 'blobs', 'sha256', oldLayer.slice(7))), false, 'the replaced SBOM document is deleted');
  assert.deepEqual(now.find((a) => a.arch === 'aarch64')!.descriptor, old.find((a) => a.arch === 'aarch64')!.descriptor);

  validSpdx(nowX86.sbom);
  assert.deepEqual(apkNames(nowX86.sbom), [...p.apkInfo].sort());
  assert.match(nowX86.sbom.comment ?? '', /^\/lib\/apk\/db\/installed was removed by stage strip; the packages listed are those installed when stage configure ended$/);
  const read = await readAttachedSbom(config, 'x86_64');
  assert.ok(read?.bytes.equals(nowX86.bytes));

  const printed = await runEib(['sbom', '--arch', 'x86_64', '--quiet'], { cwd: p.dir });
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(printed.stdout, nowX86.bytes.toString('utf8'));
  assert.equal(printed.stderr, '');
});

test('packages found in a configured http repository get its download URL; the others stay NOASSERTION', { skip, timeout: 300_000 }, async () => {
  const p = madeProject();
  // A signed index over http listing the x86_64 minirootfs packages with their checksums (C:), so they match the image's.
  const served = userTempDir('eib-sbom-repo-');
  mkdirSync(join(served, 'main', 'x86_64'), { recursive: true });
  const db = execFileSync('tar', ['-xzOf', TARBALL('x86_64'), './lib/apk/db/installed'], { encoding: 'utf8' });
  const entries: PackageInfo[] = parseInstalled(db).map(apkMetadata).map((m) => ({
    name: m.name, version: m.version, arch: 'x86_64', size: 1, installedSize: 1, description: m.description ?? '', url: m.url ?? '', license: m.license ?? '',
    depends: m.depends, provides: m.provides, installIf: [], replaces: [], checksum: m.checksum, repository: '',
  }));
  await writeApkIndex(join(served, 'main', 'x86_64', 'APKINDEX.tar.gz'), entries, loadSigningKey(join(SHARED_ALPINE, 'keys', 'eib-test-0001.rsa')));
  const server = createServer((req, res) => {
    const file = join(served, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200);
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/main`;
    const yaml = readFileSync(join(p.dir, 'eib.yaml'), 'utf8').replace(/repositories: \[.*\]/, `repositories: [${url}]`);
    writeFileSync(join(p.dir, 'eib-http.yaml'), yaml);
    const config = await loadConfig({ path: join(p.dir, 'eib-http.yaml'), cwd: p.dir });
    // A build leaves the index in the cache; attaching never downloads.
    await openRepository({ url, arch: 'x86_64', keys: loadKeys([...config.alpine.keys]), cacheDir: config.cache.dir, http: sharedGet });
    const warnings: string[] = [];
    const attached = await attachSbom(config, { onWarning: (m) => warnings.push(m) });
    userOwns(p.dir);
    const x86 = attached.find((a) => a.arch === 'x86_64')!.sbom;
    validSpdx(x86);
    const busybox = x86.packages.find((q) => q.name === 'busybox')!;
    assert.equal(busybox.downloadLocation, `${url}/x86_64/busybox-1.36.1-r29.apk`);
    assert.ok(x86.packages.filter((q) => q.SPDXID !== 'SPDXRef-Image').every((q) => q.downloadLocation.startsWith(`${url}/x86_64/`)));
    // aarch64: no cached index for that arch, so no location, and a warning that says why.
    const arm = attached.find((a) => a.arch === 'aarch64')!.sbom;
    assert.ok(arm.packages.every((q) => q.downloadLocation === 'NOASSERTION'));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, new RegExp(`SBOM download locations from ${url} left as NOASSERTION: .*offline`));
  } finally {
    server.close();
  }
});
