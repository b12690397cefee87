/**
 * `eib build --explain` names the exact input that made each stage run:
 * one change of each kind after the other on one project (a table test),
 * checked in --json and in the human lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageExplanation } from '../../src/pipeline/explain.js';
import { chownToUser, editYaml, eib, helloPackage, hermeticProject, publish, type HermeticProject } from './project.js';

interface Summary {
  stages: { name: string; cached: boolean; explain?: StageExplanation }[];
}

const none = { keys: [], hostFiles: [], packages: [] };

interface Case {
  change: string;
  apply: (p: HermeticProject) => Promise<void>;
  /** Stage name → the explanation expected (without `against`); absent stages must be cached. */
  expect: Record<string, Omit<StageExplanation, 'against'>>;
  /** A line the human output must contain. */
  line: RegExp;
}

const cases: Case[] = [
  {
    change: 'the run script',
    apply: async (p) => editYaml(p, (y) => y.replace('echo configured > /etc/state', 'echo reconfigured > /etc/state')),
    expect: { configure: { reason: 'changed', ...none, keys: ['run'] } },
    line: /configure: stage definition changed: run/,
  },
  {
    change: 'a host file',
    apply: async (p) => {
      writeFileSync(join(p.dir, 'overlay', 'motd'), 'welcome back\n');
      chownToUser(join(p.dir, 'overlay'));
    },
    expect: { configure: { reason: 'changed', ...none, hostFiles: [{ path: 'overlay/motd', change: 'changed' }] } },
    line: /configure: host file overlay\/motd changed/,
  },
  {
    change: 'a package version in the repository, then eib lock --update',
    apply: async (p) => {
      await publish(p, [helloPackage('1.1-r0')]);
      const r = await eib(p, ['lock', '--update']);
      assert.equal(r.code, 0, r.stderr);
    },
    expect: {
      base: { reason: 'changed', ...none, packages: [{ name: 'hello', from: '1.0-r0', to: '1.1-r0' }] },
      configure: { reason: 'changed', ...none, parent: { stage: 'base' } },
    },
    line: /base: package hello 1\.0-r0 → 1\.1-r0\n(.*\n)*configure: rebuilt because its parent stage base was rebuilt/,
  },
  {
    change: 'the epoch',
    apply: async (p) => editYaml(p, (y) => y.replace('epoch: 1700000000', 'epoch: 1700000100')),
    expect: {
      base: { reason: 'changed', ...none, epoch: { from: 1700000000, to: 1700000100 } },
      configure: { reason: 'changed', ...none, parent: { stage: 'base' }, epoch: { from: 1700000000, to: 1700000100 } },
    },
    line: /base: epoch 1700000000 → 1700000100/,
  },
];

test('eib build --explain names the input that changed, for each kind of input', async () => {
  const project = await hermeticProject({ epoch: 1700000000 });
  assert.equal((await eib(project, ['lock'])).code, 0);
  const first = await eib(project, ['build', '--json', '--explain']);
  assert.equal(first.code, 0, first.stderr);
  for (const s of (JSON.parse(first.stdout) as Summary).stages) assert.equal(s.explain?.reason, 'new', s.name);

  for (const c of cases) {
    await c.apply(project);
    const r = await eib(project, ['build', '--json', '--explain']);
    assert.equal(r.code, 0, `${c.change}: ${r.stderr}`);
    const stages = (JSON.parse(r.stdout) as Summary).stages;
    for (const s of stages) {
      const want = c.expect[s.name];
      if (!want) {
        assert.ok(s.cached && s.explain === undefined, `${c.change}: ${s.name} should be cached`);
        continue;
      }
      const { against, ...got } = s.explain!;
      assert.match(against ?? '', /^[0-9a-f]{64}$/);
      assert.deepEqual(got, want, `${c.change}: ${s.name}`);
    }
    assert.match(r.stderr, c.line, `${c.change}: the human lines`);
  }
});
