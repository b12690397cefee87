/**
 * Hostile layers from a registry, exported: images whose layers try to leave
 * the root (`..`, an absolute path, a symlink to outside and then a file
 * through it — in one layer and across two —, a hardlink to a host file)
 * are crafted here, pushed to a real registry (docker-registry), pulled with
 * pullImage into a project's outputs.oci, and exported by the real CLI as
 * the unprivileged user, to rootfs.tar and to rootfs.ext4 (which unpacks
 * the layers on disk inside the user namespace, where a missed check would
 * write to the host).
 *
 * Each export is refused: exit 1, the message names the stage's layer and
 * the entry and says to rebuild; the library error is ELAYERPATH. No output
 * file and no temporary file appear beside the target, the cache's tmp is
 * empty, and no canary in the project, $HOME or /tmp changes. A benign image
 * through the same path exports both ways, so the refusals are about the
 * content.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { EibError } from '../../src/errors.js';
import { exportImage } from '../../src/export/export.js';
import { layoutSource } from '../../src/remote/image-source.js';
import { pullImage, pushImage } from '../../src/remote/push.js';
import { parseReference } from '../../src/remote/reference.js';
import { runEib } from '../helpers/cli.js';
import { startRegistry, tempDir, type TestRegistry } from '../helpers/registry.js';
import { cacheContents, canaryDamage, chownToUser, listTree, makeProject, removeCanaries, writeRepo, type Project } from './project.js';
import { DEEP, writeCraftedImage, type CraftedStage } from './layers-craft.js';

const STAGES = `  - name: base
    packages: [good]
`;

/** A project whose eib.yaml is valid (its repository exists); the image in outputs.oci comes from the registry. */
async function exportProject(): Promise<Project> {
  const project = makeProject(STAGES);
  await writeRepo(project, [{ name: 'good', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/good', content: 'good\n' }] }]);
  return project;
}

const anonymous = { credential: async () => undefined, retryDelayMs: 10 };

let registry: TestRegistry;
const cleanup: string[] = [];

before(async () => {
  registry = await startRegistry();
});

after(async () => {
  await registry?.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

const BASE: CraftedStage = { name: 'base', entries: [{ path: 'etc', type: 'dir' }, { path: 'etc/hostname', body: 'device\n' }] };

interface Case {
  name: string;
  /** The stages above base, given the project's canary id. */
  stages: (id: string) => CraftedStage[];
  /** What the message must say besides naming the evil stage's layer. */
  reason: RegExp;
}

const CASES: Case[] = [
  {
    name: 'an entry climbing out with ..',
    stages: (id) => [{ name: 'evil', entries: [{ path: `etc/${DEEP}/tmp/escaped-${id}`, body: 'escaped\n' }] }],
    reason: /entry path ".*escaped-[0-9a-f]+" points outside the root filesystem/,
  },
  {
    name: 'an absolute path (after normalization)',
    stages: (id) => [{ name: 'evil', entries: [{ path: `/./tmp//escaped-${id}`, body: 'escaped\n' }] }],
    reason: /entry path "\/\.\/tmp\/\/escaped-[0-9a-f]+" points outside the root filesystem/,
  },
  {
    name: 'a symlink to outside, then a file through it, in one layer',
    stages: (id) => [
      {
        name: 'evil',
        entries: [
          { path: 'etc/out', type: 'symlink', linkname: '/tmp' },
          { path: `etc/out/escaped-${id}`, body: 'escaped\n' },
        ],
      },
    ],
    reason: /entry "etc\/out\/escaped-[0-9a-f]+" goes through the symlink "etc\/out"/,
  },
  {
    name: 'a symlink to outside in one layer, a file through it in the next',
    stages: (id) => [
      { name: 'link', entries: [{ path: 'etc/up', type: 'symlink', linkname: `${DEEP}/tmp` }] },
      { name: 'evil', entries: [{ path: `etc/up/escaped-${id}`, body: 'escaped\n' }] },
    ],
    reason: /entry "etc\/up\/escaped-[0-9a-f]+" goes through the symlink "etc\/up"/,
  },
  {
    name: 'a hardlink to a host file',
    stages: (id) => [{ name: 'evil', entries: [{ path: 'etc/stolen', type: 'link', linkname: `${DEEP}/tmp/eib-canary-${id}` }] }],
    reason: /hardlink etc\/stolen: entry path ".*eib-canary-[0-9a-f]+" points outside the root filesystem/,
  },
];

/** Craft `stages` over base, push them to the registry, pull them into the project's outputs.oci as `latest`. */
async function publishAndPull(project: Project, name: string, stages: CraftedStage[]): Promise<string> {
  const source = tempDir('eib-crafted-');
  cleanup.push(source);
  const manifest = await writeCraftedImage(source, 'crafted', [BASE, ...stages]);
  const ref = parseReference(`${registry.host}/hostile/layers:${name}`);
  await pushImage(layoutSource(source, 'crafted'), ref, anonymous);
  const pulled = await pullImage(ref, join(project.dir, 'out', 'oci'), { ...anonymous, tag: 'latest' });
  assert.equal(pulled.digest, manifest);
  chownToUser(join(project.dir, 'out'));
  return manifest;
}

/** The project as a user sees it (cache aside), to compare before and after an export. */
function projectFiles(project: Project): string[] {
  return listTree(project.dir).filter((p) => !p.startsWith('.cache'));
}

for (const [i, c] of CASES.entries()) {
  test(`export refuses ${c.name}: no output, no temp file, nothing outside`, async () => {
    const project = await exportProject();
    try {
      await publishAndPull(project, `case${i}`, c.stages(project.id));
      const before = projectFiles(project);
      for (const output of ['rootfs.tar', 'rootfs.ext4']) {
        const r = await runEib(['export', output], { cwd: project.dir });
        assert.equal(r.code, 1, `${output}: ${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /^error: stage evil \(sha256:[0-9a-f]{64}\)/m, `${output}: names the layer`);
        assert.match(r.stderr, c.reason, output);
        assert.match(r.stderr, /malformed or malicious, rebuild it/, output);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.deepEqual(projectFiles(project), before, `${output}: no output file, no temp file beside it`);
        assert.deepEqual(cacheContents(project.cache).tmp, [], `${output}: no work folder left in the cache`);
        assert.deepEqual(canaryDamage(project), [], output);
      }
      // The library error a caller gets, with its code.
      const config = await loadConfig({ cwd: project.dir });
      await assert.rejects(exportImage(config, { path: join(project.dir, 'rootfs.tar') }), (e: unknown) => e instanceof EibError && e.code === 'ELAYERPATH' && c.reason.test(e.message));
      assert.equal(existsSync(join(project.dir, 'rootfs.tar')), false);
      assert.deepEqual(projectFiles(project), before);
    } finally {
      removeCanaries(project);
      rmSync(project.dir, { recursive: true, force: true });
    }
  });
}

test('the same pipeline exports a benign image to tar and ext4', async () => {
  const project = await exportProject();
  try {
    await publishAndPull(project, 'benign', [
      {
        name: 'evil',
        entries: [
          { path: 'etc/link', type: 'symlink', linkname: '/tmp' },
          { path: 'etc/hard', type: 'link', linkname: 'etc/hostname' },
        ],
      },
    ]);
    for (const output of ['rootfs.tar', 'rootfs.ext4']) {
      const r = await runEib(['export', output, '--json'], { cwd: project.dir });
      assert.equal(r.code, 0, `${output}: ${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as { stage: string }).stage, 'evil');
      assert.ok(existsSync(join(project.dir, output)));
    }
    assert.deepEqual(cacheContents(project.cache).tmp, []);
    assert.deepEqual(canaryDamage(project), []);
  } finally {
    removeCanaries(project);
    rmSync(project.dir, { recursive: true, force: true });
  }
});
