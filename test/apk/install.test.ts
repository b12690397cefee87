/**
 * installPackages into a temporary root (as root on the host, so owners
 * can be set): files, owners, modes, links, scripts in order with apk's
 * arguments, triggers with the matched directories, the database files in
 * apk's format, file conflicts and `replaces`, and a later stage adding to
 * an existing database.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileConflictError, ApkPackageError } from '../../src/apk/package-error.js';
import type { BuildPackage } from '../helpers/apk-builder.js';
import { install, recordingRunner, shelve, workspace } from './install-fixtures.js';

const q1 = (text: string): string => `Q1${createHash('sha1').update(text).digest('base64')}`;

const tool: BuildPackage = {
  name: 'tool',
  version: '2.0-r1',
  scripts: { 'pre-install': '#!/bin/sh\necho pre\n', 'post-install': '#!/bin/sh\necho post\n', trigger: '#!/bin/sh\necho trigger "$@"\n' },
  triggers: ['/usr/lib/tool/plugins/*'],
  files: [
    { path: 'etc/', type: 'directory' },
    { path: 'etc/tool.conf', content: 'setting=1\n', mode: 0o640, uid: 0, gid: 42 },
    { path: 'usr/', type: 'directory' },
    { path: 'usr/bin/', type: 'directory' },
    { path: 'usr/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o4755 },
    { path: 'usr/bin/tool-alias', type: 'symlink', linkTarget: 'tool' },
    { path: 'usr/bin/tool-hard', type: 'hardlink', linkTarget: 'usr/bin/tool', mode: 0o4755 },
    { path: 'usr/lib/', type: 'directory' },
    { path: 'usr/lib/tool/', type: 'directory' },
    { path: 'usr/lib/tool/plugins/', type: 'directory' },
    { path: 'var/', type: 'directory' },
    { path: 'var/spool/', type: 'directory', mode: 0o1777, uid: 0, gid: 0 },
    { path: 'var/spool/tool/', type: 'directory', mode: 0o2750, uid: 100, gid: 101 },
  ],
};

const plugin: BuildPackage = {
  name: 'tool-plugin',
  version: '1.0-r0',
  depends: ['tool'],
  files: [
    { path: 'usr/', type: 'directory' },
    { path: 'usr/lib/', type: 'directory' },
    { path: 'usr/lib/tool/', type: 'directory' },
    { path: 'usr/lib/tool/plugins/', type: 'directory' },
    { path: 'usr/lib/tool/plugins/extra/', type: 'directory' },
    { path: 'usr/lib/tool/plugins/extra/plugin.so', content: 'ELF?' },
  ],
};

test('files, owners, modes and links land as the package gives them', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [tool]);
  const result = await install(w.root, w.shelf, infos);
  assert.deepEqual(result.installed.map((p) => p.name), ['tool']);
  const conf = statSync(join(w.root, 'etc/tool.conf'));
  assert.equal(conf.mode & 0o7777, 0o640);
  assert.equal(conf.gid, 42);
  const bin = statSync(join(w.root, 'usr/bin/tool'));
  assert.equal(bin.mode & 0o7777, 0o4755, 'setuid kept');
  assert.equal(statSync(join(w.root, 'usr/bin/tool-hard')).ino, bin.ino);
  assert.equal(readlinkSync(join(w.root, 'usr/bin/tool-alias')), 'tool');
  assert.equal(statSync(join(w.root, 'var/spool')).mode & 0o7777, 0o1777);
  const spool = statSync(join(w.root, 'var/spool/tool'));
  assert.equal(spool.mode & 0o7777, 0o2750);
  assert.equal(spool.uid, 100);
  assert.equal(spool.gid, 101);
  // No temporary names left behind.
  assert.equal(execFileSync('find', [w.root, '-name', '.apk.*'], { encoding: 'utf8' }), '');
});

test('scripts run in order with apk arguments and environment; triggers get the matched directories', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [tool, plugin]);
  const { runner, calls } = recordingRunner();
  await install(w.root, w.shelf, infos, { runScript: runner });
  assert.deepEqual(
    calls.map((c) => [c.script.replace(/\.[0-9a-f]{8}$/, ''), c.args]),
    [
      ['/lib/apk/exec/tool-2.0-r1.pre-install', ['2.0-r1']],
      ['/lib/apk/exec/tool-2.0-r1.post-install', ['2.0-r1']],
      ['/lib/apk/exec/tool-2.0-r1.trigger', ['/usr/lib/tool/plugins/extra']],
    ],
  );
  assert.equal(calls[0]?.body, '#!/bin/sh\necho pre\n');
  assert.deepEqual(calls[0]?.env, { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' });
  // The pre-install ran before any file of the package existed, the scripts are gone afterwards.
  assert.equal(readFileSync(join(w.root, 'usr/lib/tool/plugins/extra/plugin.so'), 'utf8'), 'ELF?');
  assert.deepEqual(execFileSync('ls', ['-A', join(w.root, 'lib/apk/exec')], { encoding: 'utf8' }), '');
});

test('the database is written in apk-tools format', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [tool, plugin]);
  await install(w.root, w.shelf, infos, { world: ['tool-plugin'] });
  const [toolInfo] = infos;
  const installed = readFileSync(join(w.root, 'lib/apk/db/installed'), 'utf8');
  const block = installed.split('\n\n')[0] ?? '';
  const expected = [
    `C:${toolInfo?.checksum}`,
    'P:tool',
    'V:2.0-r1',
    'A:aarch64',
    `S:${toolInfo?.size}`,
    `I:${toolInfo?.installedSize}`,
    'T:tool test package',
    'U:https://example.invalid/',
    'L:MIT',
    'o:tool',
    't:1700000000',
    'F:etc',
    'R:tool.conf',
    'a:0:42:640',
    `Z:${q1('setting=1\n')}`,
    'F:usr',
    'F:usr/bin',
    'R:tool',
    'a:0:0:4755',
    `Z:${q1('#!/bin/sh\necho tool\n')}`,
    'R:tool-alias',
    'a:0:0:777',
    `Z:${q1('tool')}`,
    'R:tool-hard',
    'a:0:0:4755',
    `Z:${q1('#!/bin/sh\necho tool\n')}`,
    'F:usr/lib',
    'F:usr/lib/tool',
    'F:usr/lib/tool/plugins',
    'F:var',
    'F:var/spool',
    'M:0:0:1777',
    'F:var/spool/tool',
    'M:100:101:2750',
  ];
  assert.deepEqual(block.split('\n'), expected);
  assert.match(installed, /\nP:tool-plugin\n[\s\S]*\nD:tool\n/);
  assert.ok(installed.endsWith('\n\n'));

  const scripts = execFileSync('tar', ['tvf', join(w.root, 'lib/apk/db/scripts.tar')], { encoding: 'utf8' });
  for (const s of ['pre-install', 'post-install', 'trigger']) {
    assert.match(scripts, new RegExp(`^-rwxr-xr-x root/root .* tool-2\\.0-r1\\.${toolInfo?.checksum?.replace(/[+/=]/g, '\\$&')}\\.${s}$`, 'm'));
  }
  assert.equal(readFileSync(join(w.root, 'lib/apk/db/triggers'), 'utf8'), `${toolInfo?.checksum} /usr/lib/tool/plugins/*\n`);
  assert.equal(readFileSync(join(w.root, 'etc/apk/world'), 'utf8'), 'tool-plugin\n');
  assert.equal(readFileSync(join(w.root, 'etc/apk/arch'), 'utf8'), 'aarch64\n');
  assert.equal(readFileSync(join(w.root, 'etc/apk/repositories'), 'utf8'), '/repo/main\n');
  assert.match(readFileSync(join(w.root, 'etc/apk/keys/eib-install-test.rsa.pub'), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  assert.equal(lstatSync(join(w.root, 'lib/apk/db/lock')).mode & 0o777, 0o600);
  for (const dir of ['lib/apk/exec', 'var/cache/apk', 'var/cache/misc']) assert.ok(statSync(join(w.root, dir)).isDirectory(), dir);
});

test('a failing script is a warning worded like apk, or ESCRIPT when scripts are fatal', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [tool]);
  const failing = recordingRunner((r) => (r.script.includes('post-install') ? 3 : 0));
  const result = await install(w.root, w.shelf, infos, { runScript: failing.runner });
  assert.deepEqual(result.warnings, ['ERROR: tool-2.0-r1.post-install: script exited with error 3']);
  assert.match(readFileSync(join(w.root, 'lib/apk/db/installed'), 'utf8'), /\nf:s\n/);

  const w2 = workspace();
  await shelve(w2.shelf, [tool]);
  const error = await install(w2.root, w2.shelf, infos, { runScript: failing.runner, scriptsFatal: true }).then(
    () => assert.fail('no error'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApkPackageError);
  assert.equal(error.code, 'ESCRIPT');
  assert.match(error.message, /^tool-2\.0-r1: post-install: script exited with error 3/);
});

test('two packages shipping the same file conflict unless replaces settles it', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [
    tool,
    { name: 'rival', version: '1.0-r0', files: [{ path: 'usr/', type: 'directory' }, { path: 'usr/bin/', type: 'directory' }, { path: 'usr/bin/rival', content: 'r' }, { path: 'usr/bin/tool', content: 'mine' }] },
    { name: 'successor', version: '1.0-r0', replaces: ['tool'], files: [{ path: 'usr/', type: 'directory' }, { path: 'usr/bin/', type: 'directory' }, { path: 'usr/bin/tool', content: 'newer' }] },
  ]);
  const [toolInfo, rival, successor] = infos;
  await install(w.root, w.shelf, [toolInfo!]);
  const error = await install(w.root, w.shelf, [rival!]).then(
    () => assert.fail('no conflict'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof FileConflictError);
  assert.equal(error.code, 'EFILECONFLICT');
  assert.equal(error.path, 'usr/bin/tool');
  assert.deepEqual(error.owners, ['tool-2.0-r1']);
  assert.ok(!existsSync(join(w.root, 'usr/bin/rival')), 'nothing of the refused package is written');

  await install(w.root, w.shelf, [successor!]);
  assert.equal(readFileSync(join(w.root, 'usr/bin/tool'), 'utf8'), 'newer');
  const installed = readFileSync(join(w.root, 'lib/apk/db/installed'), 'utf8');
  const toolBlock = installed.split('\n\n').find((b) => b.includes('\nP:tool\n')) ?? '';
  assert.doesNotMatch(toolBlock, /\nR:tool\n/, 'ownership moved to the replacing package');
  assert.match(toolBlock, /\nR:tool-alias\n/);
});

test('a later stage adds to the database an earlier stage wrote', async () => {
  const w = workspace();
  const [toolInfo, pluginInfo] = await shelve(w.shelf, [tool, plugin]);
  await install(w.root, w.shelf, [toolInfo!], { world: ['tool'] });
  const { runner, calls } = recordingRunner();
  const second = await install(w.root, w.shelf, [toolInfo!, pluginInfo!], { world: ['tool-plugin'], runScript: runner });
  assert.deepEqual(second.installed.map((p) => p.name), ['tool-plugin'], 'already installed packages are skipped');
  assert.deepEqual(calls.map((c) => c.args), [['/usr/lib/tool/plugins/extra']], "the earlier package's trigger fires");
  const installed = readFileSync(join(w.root, 'lib/apk/db/installed'), 'utf8');
  assert.deepEqual([...installed.matchAll(/^P:(.*)$/gm)].map((m) => m[1]), ['tool', 'tool-plugin']);
  assert.equal(readFileSync(join(w.root, 'etc/apk/world'), 'utf8'), 'tool\ntool-plugin\n');
  const scripts = execFileSync('tar', ['tf', join(w.root, 'lib/apk/db/scripts.tar')], { encoding: 'utf8' });
  assert.equal(scripts.trim().split('\n').length, 3);
  mkdirSync(join(w.root, 'tmp'), { recursive: true });
});

test('extended attributes from SCHILY.xattr records are set on the installed file', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [
    { name: 'attrs', version: '1.0-r0', files: [{ path: 'etc/', type: 'directory' }, { path: 'etc/attr.conf', content: 'a', xattrs: { 'user.eib.test': 'hello' } }] },
  ]);
  const result = await install(w.root, w.shelf, infos);
  assert.deepEqual(result.warnings, []);
  const dump = execFileSync('getfattr', ['-h', '-n', 'user.eib.test', '--only-values', join(w.root, 'etc/attr.conf')], { encoding: 'utf8' });
  assert.equal(dump, 'hello');
});

test('a changed configuration file in /etc is kept; the package version goes to .apk-new', async () => {
  const w = workspace();
  const infos = await shelve(w.shelf, [
    {
      name: 'conf',
      version: '1.0-r0',
      files: [
        { path: 'etc/', type: 'directory' },
        { path: 'etc/app.conf', content: 'package\n' },
        { path: 'etc/same.conf', content: 'same\n' },
        { path: 'usr/', type: 'directory' },
        { path: 'usr/share/', type: 'directory' },
        { path: 'usr/share/data', content: 'package\n' },
      ],
    },
  ]);
  mkdirSync(join(w.root, 'etc'), { recursive: true });
  mkdirSync(join(w.root, 'usr/share'), { recursive: true });
  writeFileSync(join(w.root, 'etc/app.conf'), 'mine\n');
  writeFileSync(join(w.root, 'etc/same.conf'), 'same\n');
  writeFileSync(join(w.root, 'usr/share/data'), 'mine\n');
  const result = await install(w.root, w.shelf, infos);
  assert.equal(readFileSync(join(w.root, 'etc/app.conf'), 'utf8'), 'mine\n');
  assert.equal(readFileSync(join(w.root, 'etc/app.conf.apk-new'), 'utf8'), 'package\n');
  assert.ok(!existsSync(join(w.root, 'etc/same.conf.apk-new')), 'identical content is simply installed');
  assert.equal(readFileSync(join(w.root, 'usr/share/data'), 'utf8'), 'package\n', 'outside protected paths the package wins');
  assert.deepEqual(result.warnings, ["conf-1.0-r0: /etc/app.conf was changed in the root; the package's version is installed as /etc/app.conf.apk-new"]);
  const installed = readFileSync(join(w.root, 'lib/apk/db/installed'), 'utf8');
  assert.match(installed, new RegExp(`\\nR:app\\.conf\\nZ:${q1('package\n').replace(/[+/]/g, '\\$&')}\\n`));
});

test('a later stage upgrades a package in place and purges one: old files go, scripts get apk arguments, the database follows apk', async () => {
  const w = workspace();
  const scripts = (tag: string): NonNullable<BuildPackage['scripts']> => ({
    'post-install': `#!/bin/sh\necho ${tag}\n`,
    'pre-upgrade': `#!/bin/sh\necho ${tag}\n`,
    'post-upgrade': `#!/bin/sh\necho ${tag}\n`,
    'pre-deinstall': `#!/bin/sh\necho ${tag}\n`,
    'post-deinstall': `#!/bin/sh\necho ${tag}\n`,
  });
  const lib1: BuildPackage = {
    name: 'libfoo',
    version: '1.0-r0',
    scripts: scripts('lib1'),
    files: [
      { path: 'usr/', type: 'directory' },
      { path: 'usr/lib/', type: 'directory' },
      { path: 'usr/lib/libfoo.so.1', content: 'one' },
      { path: 'usr/share/', type: 'directory' },
      { path: 'usr/share/foo/', type: 'directory' },
      { path: 'usr/share/foo/old.txt', content: 'old' },
      { path: 'etc/', type: 'directory' },
      { path: 'etc/foo.conf', content: 'a=1\n' },
    ],
  };
  const lib2: BuildPackage = {
    ...lib1,
    version: '2.0-r0',
    scripts: scripts('lib2'),
    files: [
      { path: 'usr/', type: 'directory' },
      { path: 'usr/lib/', type: 'directory' },
      { path: 'usr/lib/libfoo.so.2', content: 'two' },
      { path: 'etc/', type: 'directory' },
      { path: 'etc/foo.conf', content: 'a=2\n' },
    ],
  };
  const extra: BuildPackage = { name: 'extra', version: '1', scripts: scripts('extra'), files: [{ path: 'opt/', type: 'directory' }, { path: 'opt/extra/', type: 'directory' }, { path: 'opt/extra/x', content: 'x' }] };
  const other: BuildPackage = { name: 'other', version: '1', files: [{ path: 'usr/', type: 'directory' }, { path: 'usr/lib/', type: 'directory' }, { path: 'usr/lib/other', content: 'o' }] };
  const [lib1Info, extraInfo, otherInfo, lib2Info] = await shelve(w.shelf, [lib1, extra, other, lib2]);
  await install(w.root, w.shelf, [lib1Info!, extraInfo!, otherInfo!], { world: ['libfoo', 'extra', 'other'] });

  const { runner, calls } = recordingRunner();
  const second = await install(w.root, w.shelf, [lib2Info!], { remove: ['extra'], world: ['libfoo>=2'], runScript: runner });
  assert.deepEqual(second.installed.map((p) => `${p.name}-${p.version}`), ['libfoo-2.0-r0']);
  assert.deepEqual(
    calls.map((c) => [c.script.replace(/^\/lib\/apk\/exec\//, '').replace(/\.[0-9a-f]{8}$/, ''), c.args, c.body.trim().split('\n')[1]]),
    [
      ['extra-1.pre-deinstall', ['1'], 'echo extra'],
      ['extra-1.post-deinstall', ['1'], 'echo extra'],
      ['libfoo-2.0-r0.pre-upgrade', ['2.0-r0', '1.0-r0'], 'echo lib2'],
      ['libfoo-2.0-r0.post-upgrade', ['2.0-r0', '1.0-r0'], 'echo lib2'],
    ],
  );
  assert.equal(readFileSync(join(w.root, 'usr/lib/libfoo.so.2'), 'utf8'), 'two');
  assert.equal(readFileSync(join(w.root, 'etc/foo.conf'), 'utf8'), 'a=2\n', 'an unchanged configuration file is upgraded');
  for (const gone of ['usr/lib/libfoo.so.1', 'usr/share/foo/old.txt', 'usr/share/foo', 'opt/extra/x', 'opt/extra']) {
    assert.ok(!existsSync(join(w.root, gone)), `${gone} should be gone`);
  }
  assert.ok(existsSync(join(w.root, 'usr/lib/other')) && existsSync(join(w.root, 'usr/share')) === false, 'directories other packages own stay, empty unowned ones go');
  const db = readFileSync(join(w.root, 'lib/apk/db/installed'), 'utf8');
  assert.deepEqual([...db.matchAll(/^P:(.*)\nV:(.*)$/gm)].map((m) => `${m[1]}-${m[2]}`), ['libfoo-2.0-r0', 'other-1'], 'apk writes the database sorted by name');
  assert.doesNotMatch(db, /libfoo\.so\.1|old\.txt/);
  assert.equal(readFileSync(join(w.root, 'etc/apk/world'), 'utf8'), 'extra\nlibfoo>=2\nother\n');
  const stored = execFileSync('tar', ['tf', join(w.root, 'lib/apk/db/scripts.tar')], { encoding: 'utf8' });
  assert.ok(!/extra-1|libfoo-1\.0-r0/.test(stored), `scripts of removed versions are dropped:\n${stored}`);
});
