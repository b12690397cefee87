/**
 * Hermetic builds end to end as the unprivileged user: a locked project
 * keeps building after its repository deleted the pinned package (from the
 * local package archive, then from a fresh cache through a real registry,
 * bit for bit, and with the repository unreachable),
 * an archived package that is not the trusted pinned one is refused, and
 * `eib lock --check` reports when the repositories move on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApk, generateSigningKey } from '../helpers/apk-builder.js';
import { startRegistry } from '../helpers/registry.js';
import { ARCH, chownToUser, editYaml, eib, helloPackage, hermeticProject, publish } from './project.js';

interface BuildSummary {
  digest: string;
  stages: { name: string; key: string; cached: boolean; source: string }[];
}

interface LockJson {
  arches: Record<string, Record<string, { name: string; version: string; checksum: string }[]>>;
  indexes: Record<string, Record<string, string>>;
}

test('a locked build outlives the mirror: packages come from the archive, local or shared, and are checked like repository ones', async () => {
  const registry = await startRegistry();
  try {
    const project = await hermeticProject({ epoch: 1700000000, registry: `${registry.host}/team/cache` });
    const lock = await eib(project, ['lock']);
    assert.equal(lock.code, 0, lock.stderr);
    const locked = JSON.parse(readFileSync(join(project.dir, 'eib.lock.json'), 'utf8')) as LockJson;
    const indexDigest = 'sha256:' + execFileSync('sha256sum', [join(project.repo, ARCH, 'APKINDEX.tar.gz')], { encoding: 'utf8' }).split(' ')[0];
    assert.deepEqual(locked.indexes, { [ARCH]: { repo: indexDigest } }, 'the lock records the digest of the signed index');
    const hello = locked.arches[ARCH]!['base']!.find((p) => p.name === 'hello')!;
    assert.equal(hello.version, '1.0-r0');

    const first = await eib(project, ['build', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const check = await eib(project, ['lock', '--check']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /current: the repositories have not changed/);

    // The archive entry in the registry, read by skopeo.
    const hex = Buffer.from(hello.checksum.slice(2), 'base64').toString('hex');
    const manifest = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/team/cache:apk-${hex}`], { encoding: 'utf8' })) as {
      artifactType: string;
      layers: { mediaType: string; size: number; annotations: Record<string, string> }[];
    };
    assert.equal(manifest.artifactType, 'application/vnd.eib.apk.v1');
    assert.equal(manifest.layers[0]!.annotations['org.opencontainers.image.title'], 'hello-1.0-r0.apk');

    // The mirror moves on: hello-1.0-r0.apk is gone, the index re-signed.
    await publish(project, [helloPackage('1.1-r0')]);
    assert.ok(!existsSync(join(project.repo, ARCH, 'hello-1.0-r0.apk')));
    const moved = await eib(project, ['lock', '--check', '--json']);
    assert.equal(moved.code, 1, moved.stderr);
    const report = JSON.parse(moved.stdout) as { current: boolean; indexes: { repository: string }[]; packages: { name: string; locked: string; current: string }[] };
    assert.deepEqual(report.packages.map((p) => [p.name, p.locked, p.current]), [['hello', '1.0-r0', '1.1-r0']]);
    assert.deepEqual(report.indexes.map((i) => i.repository), ['repo']);

    // Another epoch: every stage runs again, hello from the local archive.
    editYaml(project, (y) => y.replace('epoch: 1700000000', 'epoch: 1700000001'));
    const local = await eib(project, ['build', '--json']);
    assert.equal(local.code, 0, local.stderr);
    assert.ok((JSON.parse(local.stdout) as BuildSummary).stages.every((s) => s.source === 'built'));
    const version = await eib(project, ['shell', 'base', '--', '/bin/busybox', 'cat', '/usr/share/hello/version']);
    assert.equal(version.stdout.trim(), '1.0-r0', version.stderr);

    // Next year: a fresh cache, the team registry without the release's checkpoints, the first
    // epoch again. Every stage runs, the package comes through the registry: the same digest.
    for (const s of (JSON.parse(first.stdout) as BuildSummary).stages) {
      execFileSync('skopeo', ['delete', '--tls-verify=false', `docker://${registry.host}/team/cache:eib-${ARCH}-${s.key}`]);
    }
    editYaml(project, (y) => y.replace('epoch: 1700000001', 'epoch: 1700000000'));
    const fresh = { XDG_CACHE_HOME: join(project.dir, '.cache-fresh') };
    const shared = await eib(project, ['build', '--json'], fresh);
    assert.equal(shared.code, 0, shared.stderr);
    const rebuilt = JSON.parse(shared.stdout) as BuildSummary;
    assert.deepEqual(rebuilt.stages.map((s) => s.source), ['built', 'built']);
    assert.equal(rebuilt.digest, (JSON.parse(first.stdout) as BuildSummary).digest, 'bit for bit the release');
    const archived = readdirSync(join(project.dir, '.cache-fresh', 'eib', 'apk', 'packages'));
    assert.ok(archived.includes(`hello-1.0-r0.${hex}.apk`), archived.join(', '));
    const sharedVersion = await eib(project, ['shell', 'base', '--', '/bin/busybox', 'cat', '/usr/share/hello/version'], fresh);
    assert.equal(sharedVersion.stdout.trim(), '1.0-r0');

    // Offline: the repository cannot be reached at all; every pin comes from the archive.
    editYaml(project, (y) => y.replace('repositories: [./repo]', 'repositories: [http://127.0.0.1:9/alpine/main]'));
    const offline = await eib(project, ['build', '--json'], fresh);
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(offline.stderr, /repository http:\/\/127\.0\.0\.1:9\/alpine\/main \(x86_64\) cannot be loaded .*installing the pins of eib\.lock\.json from the package archive/);
    assert.ok((JSON.parse(offline.stdout) as BuildSummary).stages.some((s) => s.source === 'built'), 'a stage installed packages while offline');

    // Tampered: the same package re-signed by a key nobody trusts, and one with other content.
    const path = join(project.dir, '.cache-fresh', 'eib', 'apk', 'packages', `hello-1.0-r0.${hex}.apk`);
    const forged = join(project.dir, 'forged');
    await buildApk(forged, { ...helloPackage('1.0-r0'), arch: ARCH, hostile: { signWith: generateSigningKey('hermetic-test.rsa.pub') } }, project.key);
    writeFileSync(path, readFileSync(join(forged, 'hello-1.0-r0.apk')));
    chownToUser(path);
    editYaml(project, (y) => y.replace('epoch: 1700000000', 'epoch: 1700000003'));
    const unsigned = await eib(project, ['build'], fresh);
    assert.equal(unsigned.code, 1, unsigned.stderr);
    assert.match(unsigned.stderr, /archived package hello-1\.0-r0 .*signature/);

    await buildApk(forged, { ...helloPackage('1.0-r0', [{ path: 'usr/share/hello/backdoor', content: 'x' }]), arch: ARCH }, project.key);
    writeFileSync(path, readFileSync(join(forged, 'hello-1.0-r0.apk')));
    chownToUser(path);
    const other = await eib(project, ['build'], fresh);
    assert.equal(other.code, 1, other.stderr);
    assert.match(other.stderr, /archived package hello-1\.0-r0 .*control checksum .* differs/);
  } finally {
    await registry.stop();
  }
});
