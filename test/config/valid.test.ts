/**
 * Valid configurations: every fixture and every YAML example of the README
 * load, and `eib config --json` prints the normalized result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, parseConfig, type Config } from '../../src/config/index.js';
import { runEib } from '../helpers/cli.js';
import { REPO_ROOT, testUser } from '../helpers/user.js';
import { writeTree } from './tree.js';

const FIXTURES = join(REPO_ROOT, 'fixtures', 'configs');
const ENV = { HOME: '/home/someone', XDG_CACHE_HOME: '/var/cache/someone' };

/** The `#+begin_src yaml` blocks of an org file, with the line each starts on. */
export function orgYamlBlocks(org: string): { line: number; text: string }[] {
  const blocks: { line: number; text: string }[] = [];
  const lines = org.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*#\+begin_src\s+yaml\b/i.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^\s*#\+end_src\b/i.test(lines[end]!)) end++;
    blocks.push({ line: start + 1, text: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

for (const name of readdirSync(FIXTURES).filter((n) => n.endsWith('.yaml'))) {
  test(`fixtures/configs/${name} is valid`, async () => {
    const config = await loadConfig({ path: name, cwd: FIXTURES, env: ENV });
    assert.equal(config.file, join(FIXTURES, name));
    assert.ok(config.stages.length > 0);
  });
}

test('every yaml example of README.org is a valid configuration', async () => {
  const blocks = orgYamlBlocks(readFileSync(join(REPO_ROOT, 'README.org'), 'utf8'));
  assert.ok(blocks.length > 0, 'README.org has yaml examples');
  for (const block of blocks) {
    // Relative paths of the examples exist in fixtures/configs.
    await parseConfig(block.text, { file: join(FIXTURES, 'README.yaml'), displayName: `README.org (block at line ${block.line})`, env: ENV }).catch((e: unknown) => {
      assert.fail(`README.org block at line ${block.line}: ${String(e)}`);
    });
  }
});

test('the design example normalizes to absolute paths, expanded keys, resolved scripts and defaults', async () => {
  const config = await loadConfig({ path: 'design-example.yaml', cwd: FIXTURES, env: ENV });
  const expected: Config = {
    file: join(FIXTURES, 'design-example.yaml'),
    dir: FIXTURES,
    name: 'demo',
    arch: ['aarch64'],
    alpine: {
      repositories: [join(FIXTURES, 'repo/v3.20/main')],
      keys: [join(FIXTURES, 'keys/eib-fixture-65a0c1e2.rsa.pub')],
      allowUntrusted: false,
      scriptsFatal: false,
      imageRepositories: [],
    },
    stages: [
      { name: 'base', packages: ['alpine-baselayout', 'busybox', 'apk-tools'], files: [], hostRun: [], run: [], remove: [], env: {}, network: false },
      {
        name: 'configure',
        packages: [],
        files: [{ src: `${join(FIXTURES, 'overlay')}/`, dest: '/' }],
        hostRun: [{ file: join(FIXTURES, 'scripts/fixup.sh') }],
        run: [{ inline: 'echo device > /etc/hostname\n' }],
        remove: [],
        env: {},
        network: false,
      },
      { name: 'prune', packages: [], files: [], hostRun: [], run: [], remove: ['/usr/share/man', '/var/cache/apk/*'], env: {}, network: false },
    ],
    outputs: { oci: join(FIXTURES, 'out/oci'), tag: 'latest' },
    cache: { dir: '/home/someone/.cache/eib', registry: '127.0.0.1:5000/eib-cache' },
    registry: { ref: '127.0.0.1:5000/demo:latest', insecure: false },
    boot: { append: '', memory: 512, timeout: 120, test: [], network: false },
  };
  assert.deepEqual(config, expected);
});

test('every key set: options kept, ~ expanded, URLs untouched, script lists are files', async () => {
  const config = await loadConfig({ path: 'full.yaml', cwd: FIXTURES, env: ENV });
  assert.deepEqual(config.arch, ['aarch64', 'armv7']);
  assert.deepEqual(config.alpine.repositories, [join(FIXTURES, 'repo/v3.20/main'), 'https://dl-cdn.alpinelinux.org/alpine/v3.20/community']);
  assert.equal(config.alpine.allowUntrusted, true);
  assert.equal(config.alpine.scriptsFatal, true);
  const configure = config.stages[1]!;
  assert.deepEqual(configure.files[0], { src: join(FIXTURES, 'overlay/etc/motd'), dest: '/etc/motd', owner: '0:0', mode: '0644' });
  assert.deepEqual(configure.env, { SENSOR_ID: '42', TZ: 'UTC' });
  assert.equal(configure.network, true);
  assert.deepEqual(configure.run, [{ inline: 'adduser -D -u 1000 sensor\nrc-update add chronyd default\n' }]);
  assert.deepEqual(config.stages[2]!.run, [{ file: join(FIXTURES, 'scripts/harden.sh') }]);
  assert.deepEqual(config.outputs, {
    oci: join(FIXTURES, 'build/oci'),
    tag: 'v2',
    rootfs: join(FIXTURES, 'build/rootfs.tar'),
    ext4: join(FIXTURES, 'build/rootfs.ext4'),
    initramfs: join(FIXTURES, 'build/initramfs.cpio.gz'),
  });
  assert.deepEqual(config.boot, { kernel: join(FIXTURES, 'kernel/vmlinuz'), append: 'loglevel=3', memory: 256, timeout: 30, test: [{ file: join(FIXTURES, 'scripts/harden.sh') }], network: true });
  assert.deepEqual(config.cache, { dir: '/home/someone/eib-cache', registry: 'cache.example.com:5000/eib/sensor-gw' });
  assert.deepEqual(config.registry, { ref: 'registry.example.com/devices/sensor-gw:v2', insecure: true, ca: join(FIXTURES, 'certs/registry-ca.pem') });
  assert.equal(config.epoch, 1700000000);
});

test('the cache dir defaults to $XDG_CACHE_HOME/eib, else ~/.cache/eib', async () => {
  const withXdg = await loadConfig({ path: 'minimal.yaml', cwd: FIXTURES, env: ENV });
  assert.equal(withXdg.cache.dir, '/var/cache/someone/eib');
  const withoutXdg = await loadConfig({ path: 'minimal.yaml', cwd: FIXTURES, env: { HOME: '/home/someone' } });
  assert.equal(withoutXdg.cache.dir, '/home/someone/.cache/eib');
  // The XDG spec ignores a relative XDG_CACHE_HOME.
  const relativeXdg = await loadConfig({ path: 'minimal.yaml', cwd: FIXTURES, env: { HOME: '/home/someone', XDG_CACHE_HOME: 'cache' } });
  assert.equal(relativeXdg.cache.dir, '/home/someone/.cache/eib');
});

test('a one-line script naming an existing file is that file; any other string is inline shell', async () => {
  const dir = writeTree({
    'setup.sh': '#!/bin/sh\necho setup\n',
    'eib.yaml': `name: s
arch: x86_64
alpine: { repositories: [https://example.com/alpine], allow-untrusted: true }
stages:
  - name: a
    run: setup.sh
  - name: b
    run: |
      setup.sh
  - name: c
    run: ./setup.sh --verbose
  - name: d
    host-run: reboot
  - name: e
    run: |
      set -e
      setup.sh
`,
  });
  const config = await loadConfig({ cwd: dir, env: { HOME: dir } });
  const scripts = config.stages.map((s) => [...s.hostRun, ...s.run]);
  assert.deepEqual(scripts, [
    [{ file: join(dir, 'setup.sh') }],
    [{ file: join(dir, 'setup.sh') }],
    [{ inline: './setup.sh --verbose' }],
    [{ inline: 'reboot' }],
    [{ inline: 'set -e\nsetup.sh\n' }],
  ]);
});

test('key directories expand to their *.rsa.pub files, sorted, each once', async () => {
  const dir = writeTree({
    'keys/b.rsa.pub': 'b',
    'keys/a.rsa.pub': 'a',
    'keys/notes.txt': 'not a key',
    'extra/c.rsa.pub': 'c',
    'eib.yaml': `name: k
arch: x86_64
alpine: { repositories: [https://example.com/alpine], keys: [keys, extra/c.rsa.pub, keys/a.rsa.pub] }
stages: [{ name: a, packages: [busybox] }]
`,
  });
  const config = await loadConfig({ cwd: dir, env: { HOME: dir } });
  assert.deepEqual(config.alpine.keys, [join(dir, 'keys/a.rsa.pub'), join(dir, 'keys/b.rsa.pub'), join(dir, 'extra/c.rsa.pub')]);
});

test('eib config --json prints the normalized configuration on stdout', async () => {
  const tree = {
    'eib.yaml': readFileSync(join(FIXTURES, 'design-example.yaml'), 'utf8'),
    'repo/v3.20/main/': '',
    'keys/eib-fixture-65a0c1e2.rsa.pub': readFileSync(join(FIXTURES, 'keys/eib-fixture-65a0c1e2.rsa.pub'), 'utf8'),
    'overlay/etc/hostname': 'device\n',
    'scripts/fixup.sh': '#!/bin/sh\n',
  };
  const dir = writeTree(tree, { forUser: true });
  const r = await runEib(['config', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as Config;
  assert.equal(printed.file, join(dir, 'eib.yaml'));
  assert.deepEqual(printed.alpine.keys, [join(dir, 'keys/eib-fixture-65a0c1e2.rsa.pub')]);
  assert.deepEqual(printed.stages[1]!.hostRun, [{ file: join(dir, 'scripts/fixup.sh') }]);
  assert.deepEqual(printed.outputs, { oci: join(dir, 'out/oci'), tag: 'latest' });
  // runEib sets XDG_CACHE_HOME to <cwd>/.cache; ~ in cache.dir is the test user's home.
  assert.equal(printed.cache.dir, join(testUser().home, '.cache/eib'));

  const yaml = await runEib(['config'], { cwd: dir });
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.deepEqual(parse(yaml.stdout), printed, 'the YAML output says the same as the JSON');
});

test('top-level x- keys hold anchors that stages merge in with <<', async () => {
  const dir = writeTree({
    'eib.yaml': `name: anchors
arch: x86_64
alpine: { repositories: [https://example.com/alpine], allow-untrusted: true }
x-online: &online
  network: true
  env: { HTTP_PROXY: "http://proxy:3128" }
stages:
  - <<: *online
    name: fetch
    run: wget -q https://example.com/firmware.bin
  - name: base
    packages: [busybox]
`,
  });
  const config = await loadConfig({ cwd: dir, env: { HOME: dir } });
  assert.deepEqual(
    config.stages.map((s) => [s.name, s.network, s.env]),
    [
      ['fetch', true, { HTTP_PROXY: 'http://proxy:3128' }],
      ['base', false, {}],
    ],
  );
});

test('a tagged repository is written "@tag LOCATION" and keeps its tag; name@tag packages name it', async () => {
  const dir = writeTree({
    'edge/x86_64/.keep': '',
    'eib.yaml': `name: t
arch: x86_64
alpine:
  repositories: [https://example.com/alpine/main, "@edge ./edge", "@community https://example.com/alpine/community"]
  allow-untrusted: true
stages:
  - name: a
    packages: [busybox, curl@edge]
`,
  });
  const config = await loadConfig({ path: 'eib.yaml', cwd: dir, env: ENV });
  assert.deepEqual(config.alpine.repositories, ['https://example.com/alpine/main', `@edge ${join(dir, 'edge')}`, '@community https://example.com/alpine/community']);
  assert.deepEqual(config.stages[0]!.packages, ['busybox', 'curl@edge']);
});
