/**
 * Hostile packages through the whole CLI: a real `eib build` as the
 * unprivileged user, from a signed repository built in the test. Each is
 * refused (exit 1, the error names the package and the reason), no canary
 * outside the rootfs changes, the cache keeps nothing of the refused stage
 * (no checkpoint record, no snapshot, no layer blob; `eib ls` lists only
 * the stage before it), and the build succeeds once the repository is fixed.
 *
 * The same packages are refused in-process by test/apk/hostile.test.ts and
 * package-file.test.ts; this file proves the refusal holds end to end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeApkIndex, type BuildPackage } from '../helpers/apk-builder.js';
import { runEib } from '../helpers/cli.js';
import { ARCH, cacheContents, canaryDamage, chownToUser, makeProject, removeCanaries, writeRepo, type Project } from './project.js';

const STAGES = `  - name: base
    packages: [good]
  - name: hostile
    packages: [evil]
`;

const GOOD: BuildPackage = { name: 'good', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/good', content: 'good\n' }] };

/** The fixed evil package: same name and version, harmless content. */
const FIXED: BuildPackage = { name: 'evil', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/evil', content: 'harmless now\n' }] };

interface Case {
  name: string;
  /** The packages of the hostile repository besides `good`; `evil` is the one the stage asks for. */
  packages: (p: Project) => BuildPackage[];
  /** Rewrite the index after the packages are built (the C: mismatch). */
  tamperIndex?: boolean;
  /** The package the error must name. */
  culprit: string;
  reason: RegExp;
}

const deep = '../../../../../../../../../../..';

const CASES: Case[] = [
  {
    name: 'a symlink to outside from one package, then a file through it from another',
    packages: (p) => [
      { name: 'evil-link', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/out', type: 'symlink', linkTarget: '/tmp' }] },
      { name: 'evil', version: '1.0-r0', depends: ['evil-link'], files: [{ path: 'etc/' }, { path: 'etc/out/', type: 'directory' }, { path: `etc/out/escaped-${p.id}`, content: 'escaped\n' }] },
    ],
    culprit: 'evil-1.0-r0',
    reason: /symlink|outside|escape/i,
  },
  {
    name: 'a relative symlink climbing out, then a file through it from another package',
    packages: (p) => [
      { name: 'evil-link', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/up', type: 'symlink', linkTarget: `${deep}/tmp` }] },
      { name: 'evil', version: '1.0-r0', depends: ['evil-link'], files: [{ path: `etc/up/escaped-${p.id}`, content: 'escaped\n' }] },
    ],
    culprit: 'evil-1.0-r0',
    reason: /symlink|outside|escape/i,
  },
  {
    name: 'a hardlink to a host file outside the root',
    packages: (p) => [{ name: 'evil', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/stolen', type: 'hardlink', linkTarget: `${deep}/tmp/eib-canary-${p.id}` }] }],
    culprit: 'evil-1.0-r0',
    reason: /hardlink|outside|\.\./i,
  },
  {
    name: 'a path climbing out with ..',
    packages: (p) => [{ name: 'evil', version: '1.0-r0', files: [{ path: `${deep}/tmp/escaped-${p.id}`, content: 'escaped\n' }] }],
    culprit: 'evil-1.0-r0',
    reason: /\.\.|outside/i,
  },
  {
    name: 'a decompression bomb (64 MiB of zeros declared as 4 KiB)',
    packages: () => [{ name: 'evil', version: '1.0-r0', installedSize: 4096, files: [{ path: 'bomb', zeros: 64 * 1024 * 1024 }] }],
    culprit: 'evil-1.0-r0',
    reason: /decompression bomb/i,
  },
  {
    name: 'a wrong .PKGINFO datahash',
    packages: () => [{ name: 'evil', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/evil', content: 'x\n' }], hostile: { datahash: 'f'.repeat(64) } }],
    culprit: 'evil-1.0-r0',
    reason: /data member|datahash/i,
  },
  {
    name: "an index entry whose C: does not match the package's control member",
    packages: () => [{ name: 'evil', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/evil', content: 'x\n' }] }],
    tamperIndex: true,
    culprit: 'evil-1.0-r0',
    reason: /C:|checksum|control/i,
  },
];

async function ls(project: Project): Promise<{ stage: string; key: string }[]> {
  const r = await runEib(['ls', '--json'], { cwd: project.dir });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { stage: string; key: string }[];
}

for (const c of CASES) {
  test(`eib build refuses ${c.name}; nothing escapes, nothing of it is cached, the fixed repository builds`, async () => {
    const project = makeProject(STAGES);
    try {
      const entries = await writeRepo(project, [GOOD, ...c.packages(project)]);
      if (c.tamperIndex) {
        const forged = entries.map((e) => (e.name === 'evil' ? { ...e, checksum: `Q1${Buffer.alloc(20, 7).toString('base64')}` } : e));
        await writeApkIndex(join(project.dir, 'repo', ARCH, 'APKINDEX.tar.gz'), forged, project.key);
        chownToUser(join(project.dir, 'repo'));
      }

      const r = await runEib(['build'], { cwd: project.dir });
      assert.equal(r.code, 1, `exit 1 expected:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      const error = r.stderr.split('\n').find((l) => l.startsWith('error: ')) ?? '';
      assert.ok(error.includes(c.culprit), `the error names ${c.culprit}: ${r.stderr}`);
      assert.match(error, c.reason);
      assert.match(error, /stage hostile/, 'the error names the stage');
      assert.deepEqual(canaryDamage(project), []);

      // The cache: stage 1 whole, stage 2 absent.
      const listed = await ls(project);
      assert.deepEqual(listed.map((l) => l.stage), ['base'], 'eib ls shows only the stage that succeeded');
      const cache = cacheContents(project.cache);
      assert.deepEqual(cache.checkpoints, [`${listed[0]!.key}.json`]);
      assert.deepEqual(cache.snapshots, [listed[0]!.key]);
      assert.ok(cache.blobs.length <= 1, `only stage 1's layer blob: ${cache.blobs.join(', ')}`);
      if (process.env['EIB_HOSTILE_SHOW']) process.stderr.write(`${c.name}: ${error}\n`);

      await writeRepo(project, [GOOD, FIXED]);
      const fixed = await runEib(['build', '--json'], { cwd: project.dir });
      assert.equal(fixed.code, 0, `the build after fixing the repository: ${fixed.stderr}`);
      const stages = (JSON.parse(fixed.stdout) as { stages: { name: string; cached: boolean }[] }).stages;
      assert.deepEqual(stages.map((s) => [s.name, s.cached]), [['base', true], ['hostile', false]]);
      assert.deepEqual(canaryDamage(project), []);
      assert.deepEqual(cacheContents(project.cache).tmp, cache.tmp, 'the successful build leaves no scratch of its own');
    } finally {
      removeCanaries(project);
    }
  });
}

test('a refused stage leaves no scratch folder in <cache>/tmp', async () => {
  const project = makeProject(STAGES);
  try {
    await writeRepo(project, [GOOD, CASES[3]!.packages(project)[0]!]);
    const r = await runEib(['build'], { cwd: project.dir });
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(cacheContents(project.cache).tmp, []);
  } finally {
    removeCanaries(project);
  }
});
