/**
 * Malformed configurations: each is YAML text (and the files next to it),
 * with the exact lines a user sees. A handful run through the real CLI as
 * the unprivileged user; the rest through loadConfig.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, formatDiagnostic } from '../../src/errors.js';
import { loadConfig } from '../../src/config/index.js';
import { runEib } from '../helpers/cli.js';
import { writeTree, type Tree } from './tree.js';

interface Case {
  name: string;
  yaml: string;
  /** Files beside eib.yaml. */
  files?: Tree;
  /** Expected lines; $DIR is the config's folder. */
  expected: string[];
  /** Also run through `eib config` as the unprivileged user. */
  cli?: boolean;
}

const ARCHES = 'aarch64, armv7, armhf, x86, x86_64, riscv64, ppc64le, s390x, loongarch64';
const STEPS = 'packages, files, host-run, run, remove';

/** A valid head of a file: the cases append or replace what they test. */
const HEAD = `name: demo
arch: aarch64
alpine:
  repositories: [https://dl-cdn.alpinelinux.org/alpine/v3.20/main]
  allow-untrusted: true
`;
const BASE = `${HEAD}stages:
  - name: base
    packages: [busybox]
`;

const CASES: Case[] = [
  {
    name: 'more stages than one overlay mount can stack',
    yaml: `${HEAD}stages:\n${Array.from({ length: 33 }, (_, i) => `  - name: s${i}\n    remove: [/x]\n`).join('')}`,
    expected: ['eib.yaml:71:5: stages[32]: 33 stages, but eib stacks at most 32 (one overlay mount holds the snapshots of every earlier stage); expected at most 32 stages: merge some'],
  },
  {
    name: 'an empty file',
    yaml: '',
    expected: ['eib.yaml:1:1: the file is empty; expected a mapping with at least name, arch, alpine and stages'],
    cli: true,
  },
  {
    name: 'a file of comments only',
    yaml: '# nothing yet\n\n',
    expected: ['eib.yaml:1:1: the file is empty; expected a mapping with at least name, arch, alpine and stages'],
  },
  {
    name: 'an unclosed quote',
    yaml: 'name: "demo\narch: aarch64\n',
    expected: ['eib.yaml:3:1: invalid YAML: missing closing "quote; fix the syntax here'],
    cli: true,
  },
  {
    name: 'a tab used as indentation',
    yaml: 'name: demo\nalpine:\n\trepositories: []\n',
    expected: ['eib.yaml:3:1: invalid YAML: tabs are not allowed as indentation; fix the syntax here'],
  },
  {
    name: 'a key given twice',
    yaml: `${BASE}name: other\n`,
    expected: ['eib.yaml:9:1: invalid YAML: map keys must be unique; fix the syntax here'],
  },
  {
    name: 'two YAML documents',
    yaml: `${BASE}---\nname: other\n`,
    expected: ['eib.yaml:9:1: invalid YAML: a second document starts here; expected one document (remove the ---)'],
  },
  {
    name: 'an alias without its anchor',
    yaml: `${HEAD}stages:\n  - name: base\n    packages: *common\n`,
    expected: ['eib.yaml:8:15: invalid YAML: alias *common has no anchor &common before it; define the anchor first'],
  },
  {
    name: 'a list instead of a mapping',
    yaml: '- name: demo\n- arch: aarch64\n',
    expected: ['eib.yaml:1:1: the file: got a list; expected a mapping (key: value lines)'],
  },
  {
    name: 'a misspelt top-level key, and so a missing one',
    yaml: BASE.replace('stages:', 'stage:'),
    expected: [
      'eib.yaml:1:1: the file has no "stages"; expected a key "stages" (build stages, in order)',
      'eib.yaml:6:1: unknown key "stage" at the top level; did you mean "stages"?',
    ],
    cli: true,
  },
  {
    name: 'an unknown top-level key nothing like a known one',
    yaml: `${BASE}flavour: vanilla\n`,
    expected: ['eib.yaml:9:1: unknown key "flavour" at the top level; expected one of: name, arch, alpine, stages, outputs, cache, registry, boot, epoch'],
  },
  {
    name: 'another tool\'s arch name',
    yaml: BASE.replace('arch: aarch64', 'arch: arm64'),
    expected: [`eib.yaml:2:7: arch: unknown Alpine arch "arm64" (did you mean "aarch64"?); expected one of: ${ARCHES}`],
    cli: true,
  },
  {
    name: 'a list of arches with an unknown and a repeated one',
    yaml: BASE.replace('arch: aarch64', 'arch: [aarch64, mips, aarch64]'),
    expected: [
      `eib.yaml:2:17: arch[1]: unknown Alpine arch "mips"; expected one of: ${ARCHES}`,
      'eib.yaml:2:23: arch[2]: "aarch64" is listed twice (also arch[0]); expected each entry once',
    ],
  },
  {
    name: 'an arch that is a number',
    yaml: BASE.replace('arch: aarch64', 'arch: 64'),
    expected: [`eib.yaml:2:7: arch: got the number 64; expected one of: ${ARCHES}, or a list of them`],
  },
  {
    name: 'an empty list of arches',
    yaml: BASE.replace('arch: aarch64', 'arch: []'),
    expected: ['eib.yaml:2:7: arch: got an empty list; expected at least 1 entry'],
  },
  {
    name: 'an alpine section left empty',
    yaml: `name: demo\narch: aarch64\nalpine:\n${BASE.slice(BASE.indexOf('stages:'))}`,
    expected: ['eib.yaml:3:1: alpine: got an empty value; expected a mapping (key: value lines)'],
  },
  {
    name: 'camelCase keys',
    yaml: BASE.replace('allow-untrusted', 'allowUntrusted'),
    expected: [
      'eib.yaml:5:3: unknown key "allowUntrusted" in alpine; did you mean "allow-untrusted"?',
    ],
  },
  {
    name: 'a repository with another URL scheme, and a local one that does not exist',
    yaml: BASE.replace('[https://dl-cdn.alpinelinux.org/alpine/v3.20/main]', '[ftp://mirror.example/alpine, ./repo/main]'),
    expected: [
      'eib.yaml:4:18: alpine.repositories[0]: "ftp://mirror.example/alpine" is not valid; expected an http:// or https:// URL, or a local path, optionally tagged as "@tag URL"',
      'eib.yaml:4:47: alpine.repositories[1]: ./repo/main does not exist ($DIR/repo/main); expected a repository directory (holding <arch>/APKINDEX.tar.gz) or an http(s) URL, relative to the folder of eib.yaml',
    ],
  },
  {
    name: 'keys that do not exist or hold no key',
    yaml: BASE.replace('  allow-untrusted: true\n', '  keys: [keys/, missing.rsa.pub]\n'),
    files: { 'keys/README': 'not a key\n' },
    expected: [
      'eib.yaml:5:10: alpine.keys[0]: directory keys/ holds no *.rsa.pub file; expected the repositories\' public keys in it',
      'eib.yaml:5:17: alpine.keys[1]: missing.rsa.pub does not exist ($DIR/missing.rsa.pub); expected a *.rsa.pub file or a directory of them, relative to the folder of eib.yaml',
    ],
  },
  {
    name: 'packages without any key to trust',
    yaml: BASE.replace('  allow-untrusted: true\n', ''),
    expected: ['eib.yaml:3:1: alpine: no keys to trust, and stages install packages; expected alpine.keys (*.rsa.pub files or directories of them), or allow-untrusted: true'],
  },
  {
    name: 'no stages',
    yaml: `${HEAD}stages: []\n`,
    expected: ['eib.yaml:6:9: stages: got an empty list; expected at least 1 entry'],
  },
  {
    name: 'two stages of the same name',
    yaml: `${BASE}  - name: base\n    remove: [/usr/share/man]\n`,
    expected: ['eib.yaml:9:11: stages[1].name: "base" is already the name of stages[0]; expected a unique name per stage'],
    cli: true,
  },
  {
    name: 'a stage with nothing to do',
    yaml: `${BASE}  - name: idle\n  - name: also-idle\n    packages: []\n`,
    expected: [
      `eib.yaml:9:5: stage "idle" has no step; expected at least one of: ${STEPS}`,
      `eib.yaml:10:5: stage "also-idle" has no step; expected at least one of: ${STEPS}`,
    ],
  },
  {
    name: 'a stage without a name, and one with an invalid name',
    yaml: `${BASE}  - packages: [musl]\n  - name: Configure\n    packages: [musl-utils]\n`,
    expected: [
      'eib.yaml:9:5: stages[1] has no "name"; expected a key "name" (stage name, unique in this file)',
      'eib.yaml:10:11: stages[2].name: "Configure" is not valid; expected a lowercase identifier: a-z, 0-9, \'-\' or \'_\', starting with a letter',
    ],
  },
  {
    name: 'a misspelt step',
    yaml: BASE.replace('packages:', 'pacakges:'),
    expected: ['eib.yaml:8:5: unknown key "pacakges" in stages[0]; did you mean "packages"?'],
  },
  {
    name: 'a file copy with a relative dest, a numeric mode and a user name as owner',
    yaml: `${BASE}    files:\n      - { src: motd, dest: etc/motd, mode: 0644, owner: root }\n`,
    files: { motd: 'hello\n' },
    expected: [
      'eib.yaml:10:28: stages[0].files[0].dest: "etc/motd" is not valid; expected an absolute path inside the root filesystem: starting with /, without .. segments',
      'eib.yaml:10:44: stages[0].files[0].mode: got the number 644; expected an octal mode in quotes, like "0644" or "0755"',
      'eib.yaml:10:57: stages[0].files[0].owner: "root" is not valid; expected a numeric "uid:gid" in quotes, like "0:0" or "1000:1000"',
    ],
  },
  {
    name: 'a file copy whose source does not exist, and one missing its dest',
    yaml: `${BASE}    files:\n      - src: overlay/\n        dest: /\n      - src: motd\n`,
    files: { motd: 'hello\n' },
    expected: [
      'eib.yaml:10:14: stages[0].files[0].src: overlay/ does not exist ($DIR/overlay/); expected a directory (a trailing / copies its contents), relative to the folder of eib.yaml',
      'eib.yaml:12:9: stages[0].files[1] has no "dest"; expected a key "dest" (absolute destination path inside the root filesystem)',
    ],
  },
  {
    name: 'a source with a trailing slash that is a file',
    yaml: `${BASE}    files:\n      - { src: motd/, dest: /etc/ }\n`,
    files: { motd: 'hello\n' },
    expected: ['eib.yaml:10:16: stages[0].files[0].src: motd/ is not a directory; expected a directory (a trailing / copies its contents)'],
  },
  {
    name: 'script files that do not exist',
    yaml: `${BASE}    run: [scripts/a.sh, scripts/b.sh]\n    host-run: scripts/fixup.sh\n`,
    files: { 'scripts/a.sh': '#!/bin/sh\ntrue\n' },
    expected: [
      'eib.yaml:9:25: stages[0].run[1]: scripts/b.sh does not exist ($DIR/scripts/b.sh); expected a script file, relative to the folder of eib.yaml',
      'eib.yaml:10:15: stages[0].host-run: script scripts/fixup.sh does not exist ($DIR/scripts/fixup.sh); expected a script file relative to the folder of eib.yaml, or inline shell',
    ],
    cli: true,
  },
  {
    name: 'a script of the wrong type',
    yaml: `${BASE}    run: { shell: true }\n`,
    expected: ['eib.yaml:9:10: stages[0].run: got a mapping; expected a string or a list of strings'],
  },
  {
    name: 'bad environment names and values, and a network flag as text',
    yaml: `${BASE}    env:\n      2FA: "on"\n      PORT: 8080\n    network: "yes"\n`,
    expected: [
      'eib.yaml:10:7: stages[0].env: invalid name "2FA"; expected an environment variable name: letters, digits and \'_\', not starting with a digit',
      'eib.yaml:11:13: stages[0].env.PORT: got the number 8080; expected a string',
      'eib.yaml:12:14: stages[0].network: got the string "yes"; expected true or false',
    ],
  },
  {
    name: 'remove paths that are relative or climb out of the root filesystem',
    yaml: `${BASE}    remove: [usr/share/man, /var/../../etc]\n`,
    expected: [
      'eib.yaml:9:14: stages[0].remove[0]: "usr/share/man" is not valid; expected an absolute path inside the root filesystem: starting with /, without .. segments',
      'eib.yaml:9:29: stages[0].remove[1]: "/var/../../etc" is not valid; expected an absolute path inside the root filesystem: starting with /, without .. segments',
    ],
  },
  {
    name: 'outputs with the wrong extensions and a bad tag',
    yaml: `${BASE}outputs:\n  rootfs: out/rootfs.zip\n  ext4: out/disk.raw\n  tag: -dev\n`,
    expected: [
      'eib.yaml:10:11: outputs.rootfs: "out/rootfs.zip" is not valid; expected a path ending in .tar or .tar.gz',
      'eib.yaml:11:9: outputs.ext4: "out/disk.raw" is not valid; expected a path ending in .ext4 or .img',
      'eib.yaml:12:8: outputs.tag: "-dev" is not valid; expected an OCI tag: up to 128 letters, digits, \'_\', \'.\' or \'-\', not starting with \'.\' or \'-\'',
    ],
  },
  {
    name: 'a registry without ref, with an unknown key and a missing CA',
    yaml: `${BASE}registry:\n  url: https://registry.example.com\n  ca: certs/ca.pem\n`,
    expected: [
      'eib.yaml:10:3: registry has no "ref"; expected a key "ref" (image reference host[:port]/repository[:tag])',
      'eib.yaml:10:3: unknown key "url" in registry; expected one of: ref, insecure, ca',
      'eib.yaml:11:7: registry.ca: certs/ca.pem does not exist ($DIR/certs/ca.pem); expected a PEM certificate file, relative to the folder of eib.yaml',
    ],
  },
  {
    name: 'a cache registry with a scheme',
    yaml: `${BASE}cache:\n  registry: https://cache.example.com/eib\n`,
    expected: ['eib.yaml:10:13: cache.registry: "https://cache.example.com/eib" is not valid; expected host[:port]/repository, like "127.0.0.1:5000/eib-cache"'],
  },
  {
    name: 'a package asking for a repository tag that no repository has',
    yaml: BASE.replace('[https://dl-cdn.alpinelinux.org/alpine/v3.20/main]', '[https://dl-cdn.alpinelinux.org/alpine/v3.20/main, "@edge https://dl-cdn.alpinelinux.org/alpine/edge/main"]').replace('[busybox]', '[busybox, curl@testing]'),
    expected: [
      'eib.yaml:8:25: stages[0].packages[1]: "curl@testing" asks for repository tag "testing", but no repository is tagged so; expected an alpine.repositories entry "@testing URL" (tags: edge)',
    ],
    cli: true,
  },
  {
    name: 'a negative epoch',
    yaml: `${BASE}epoch: -1\n`,
    expected: ['eib.yaml:9:8: epoch: got the number -1; expected a whole number ≥ 0'],
  },
  {
    name: 'an epoch as a date',
    yaml: `${BASE}epoch: 2024-01-01\n`,
    expected: ['eib.yaml:9:8: epoch: got the string "2024-01-01"; expected a whole number'],
  },
];

/** The lines eib printed as errors (other stderr lines are warnings of the runtime, not eib's). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error: '));
}

function expectedLines(c: Case, dir: string): string[] {
  return c.expected.map((l) => l.replaceAll('$DIR', dir));
}

for (const c of CASES) {
  test(`loadConfig reports ${c.name}`, async () => {
    const dir = writeTree({ 'eib.yaml': c.yaml, ...c.files });
    const error = await loadConfig({ cwd: dir, env: { HOME: dir } }).then(
      () => assert.fail('expected a ConfigError'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
    assert.equal(error.exitCode, 2);
    assert.deepEqual(error.diagnostics.map(formatDiagnostic), expectedLines(c, dir));
  });
}

for (const c of CASES.filter((c) => c.cli)) {
  test(`eib config reports ${c.name}, one line per problem, exit 2`, async () => {
    const dir = writeTree({ 'eib.yaml': c.yaml, ...c.files }, { forUser: true });
    const r = await runEib(['config'], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(errorLines(r.stderr), expectedLines(c, dir).map((l) => `error: ${l}`));
  });
}

test('the table covers at least 20 malformed configurations', () => {
  assert.ok(CASES.length >= 20, `${CASES.length} cases`);
});

test('eib config without eib.yaml says where it looked and what to do, exit 2', async () => {
  const dir = writeTree({}, { forUser: true });
  const r = await runEib(['config'], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(errorLines(r.stderr), [
    `error: no configuration file: eib.yaml does not exist (${dir}/eib.yaml); create eib.yaml in ${dir}, or pass --config PATH (or set EIB_CONFIG)`,
  ]);
});

test('eib config --config and $EIB_CONFIG name the file they point to, in errors too', async () => {
  const dir = writeTree({ 'boards/rpi.yaml': BASE.replace('arch: aarch64', 'arch: arm64') }, { forUser: true });
  const expected = `error: boards/rpi.yaml:2:7: arch: unknown Alpine arch "arm64" (did you mean "aarch64"?); expected one of: ${ARCHES}`;
  const byFlag = await runEib(['config', '--config', 'boards/rpi.yaml'], { cwd: dir });
  assert.equal(byFlag.code, 2, byFlag.stderr);
  assert.deepEqual(errorLines(byFlag.stderr), [expected]);
  const byEnv = await runEib(['config'], { cwd: dir, env: { EIB_CONFIG: 'boards/rpi.yaml' } });
  assert.equal(byEnv.code, 2, byEnv.stderr);
  assert.deepEqual(errorLines(byEnv.stderr), [expected]);
  const missing = await runEib(['config', '--config', 'boards/none.yaml'], { cwd: dir });
  assert.equal(missing.code, 2, missing.stderr);
  assert.deepEqual(errorLines(missing.stderr), [
    `error: no configuration file: boards/none.yaml does not exist (${dir}/boards/none.yaml); check the path given with --config or EIB_CONFIG`,
  ]);
});
