/**
 * eib completion: the generated scripts, sourced in real bash and zsh
 * (through zsh's bashcompinit, whose matching keeps the candidates with the
 * typed prefix), complete commands, topics, flags, arches
 * and stage names (asked of eib itself in a project folder).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALPINE_ARCHES } from '../../src/config/types.js';
import { EIB_BIN } from '../helpers/cli.js';

let dir: string;
let project: string;
let bin: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'eib-completion-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  // `eib` on PATH, as npm install -g puts it there.
  writeFileSync(join(bin, 'eib'), `#!/bin/sh\nexec ${process.execPath} ${EIB_BIN} "$@"\n`);
  chmodSync(join(bin, 'eib'), 0o755);
  project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(
    join(project, 'eib.yaml'),
    ['name: t', 'arch: aarch64', 'alpine:', '  repositories: [https://example.invalid/alpine/v3.20/main]', '  allow-untrusted: true', 'stages:', '  - name: base', '    packages: [busybox]', '  - name: tune', '    remove: [/tmp/x]', ''].join('\n'),
  );
  for (const shell of ['bash', 'zsh']) writeFileSync(join(dir, `eib.${shell}`), execFileSync(process.execPath, [EIB_BIN, 'completion', shell], { encoding: 'utf8' }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** What the completion function offers for each list of words (the last one being completed), from one shell process. */
function complete(shell: 'bash' | 'zsh', cases: string[][]): string[][] {
  const calls = cases
    .map((words) => `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _eib; printf '%s\\n' "\${COMPREPLY[@]}" ---`)
    .join('; ');
  const script =
    shell === 'bash'
      ? `source ${join(dir, 'eib.bash')}; cd ${project}; ${calls}`
      : `autoload -U +X compinit && compinit -u -d ${join(dir, 'zcompdump')}; source ${join(dir, 'eib.zsh')}; cd ${project}; emulate sh -c '${calls.replace(/'/g, `'\\''`)}'`;
  const out = execFileSync(shell, ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}` } });
  const answers = out.split('---\n').slice(0, cases.length);
  // zsh's compgen offers every candidate; zsh's own matching (compadd) keeps those with the typed prefix.
  return answers.map((answer, i) => {
    const typed = cases[i]![cases[i]!.length - 1]!;
    return answer
      .split('\n')
      .filter((l) => l !== '' && (shell === 'bash' || l.startsWith(typed)))
      .sort();
  });
}

for (const shell of ['bash', 'zsh'] as const) {
  test(`${shell}: commands, topics, flags, arches and stage names`, () => {
    const [commands, ca, cache, explain, arches, aa, shells, stages, stage, none] = complete(shell, [
      ['eib', ''],
      ['eib', 'ca'],
      ['eib', 'cache', ''],
      ['eib', 'build', '--ex'],
      ['eib', 'doctor', '--arch', ''],
      ['eib', '--verbose', 'init', 'x', '--arch', 'aa'],
      ['eib', 'completion', ''],
      ['eib', 'shell', ''],
      ['eib', 'export', 'out.tar', '--stage', 't'],
      ['eib', 'shell', 'base', ''],
    ]);
    for (const c of ['build', 'cache', 'completion', 'config', 'doctor', 'export', 'init', 'push', 'shell']) assert.ok(commands!.includes(c), `${c} in ${commands!.join(' ')}`);
    assert.ok(!commands!.includes('cache:verify'), 'a topic, not an id');
    assert.deepEqual(ca, ['cache']);
    assert.deepEqual(cache, ['verify']);
    assert.deepEqual(explain, ['--explain']);
    assert.deepEqual(arches, [...ALPINE_ARCHES].sort());
    assert.deepEqual(aa, ['aarch64']);
    assert.deepEqual(shells, ['bash', 'zsh']);
    assert.deepEqual(stages, ['base', 'tune'], 'stages of ./eib.yaml');
    assert.deepEqual(stage, ['tune']);
    assert.deepEqual(none, [], 'one stage argument');
  });
}
