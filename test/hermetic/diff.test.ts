/**
 * `eib diff` of two builds that differ by one package upgrade and one host
 * file lists exactly those: between the last build and the one before it,
 * two tags of the layout, and a registry image and the layout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageDiff } from '../../src/inspect/diff.js';
import { startRegistry } from '../helpers/registry.js';
import { chownToUser, eib, helloPackage, hermeticProject, publish } from './project.js';

test('eib diff lists exactly the upgraded package and the changed file, per stage, from the layout and from a registry', async () => {
  const registry = await startRegistry();
  try {
    const project = await hermeticProject({ epoch: 1700000000 });
    assert.equal((await eib(project, ['lock'])).code, 0);
    assert.equal((await eib(project, ['build'])).code, 0);
    const none = await eib(project, ['diff']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /holds no build before the last one .*eib diff A B/);
    const pushed = await eib(project, ['push', `${registry.host}/team/app:v1`]);
    assert.equal(pushed.code, 0, pushed.stderr);

    await publish(project, [helloPackage('1.1-r0')]);
    assert.equal((await eib(project, ['lock', '--update'])).code, 0);
    writeFileSync(join(project.dir, 'overlay', 'motd'), 'welcome back\n');
    chownToUser(join(project.dir, 'overlay'));
    const second = await eib(project, ['build']);
    assert.equal(second.code, 0, second.stderr);

    const expected = (a: string, b: string): Omit<ImageDiff, 'packageFiles'> => ({
      a,
      b,
      arch: 'x86_64',
      packages: { added: [], removed: [], upgraded: [{ name: 'hello', from: '1.0-r0', to: '1.1-r0' }] },
      byStage: true,
      files: [
        { stage: 'base', changes: [] },
        {
          stage: 'configure',
          changes: [
            {
              path: '/etc/motd',
              change: 'changed',
              aspects: ['size', 'content'],
              from: { type: 'file', mode: '0644', owner: '0:0', size: 8, sha256: sha256('welcome\n') },
              to: { type: 'file', mode: '0644', owner: '0:0', size: 13, sha256: sha256('welcome back\n') },
            },
          ],
        },
      ],
    });
    const last = await eib(project, ['diff', '--json']);
    assert.equal(last.code, 0, last.stderr);
    const { packageFiles, ...diff } = JSON.parse(last.stdout) as ImageDiff;
    assert.deepEqual(diff, expected('latest.previous', 'latest'));
    assert.ok(packageFiles >= 2, 'hello’s version file and the apk database are summed up, not listed');

    const text = await eib(project, ['diff', 'latest.previous', 'latest']);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(
      text.stdout,
      [
        'latest.previous → latest (x86_64)',
        'packages:',
        '  ~ hello 1.0-r0 → 1.1-r0',
        'files (stage configure):',
        '  ~ /etc/motd  size 8 → 13, content',
        `(${packageFiles} file(s) of the changed packages and apk's database not listed)`,
        '',
      ].join('\n'),
    );

    const ref = `${registry.host}/team/app:v1`;
    const remote = await eib(project, ['diff', ref, '--json']);
    assert.equal(remote.code, 0, remote.stderr);
    const { packageFiles: _, ...fromRegistry } = JSON.parse(remote.stdout) as ImageDiff;
    assert.deepEqual(fromRegistry, expected(ref, 'latest'));
    // The previous build stays an image any OCI tool reads.
    execFileSync('skopeo', ['inspect', `oci:${join(project.dir, 'out', 'oci')}:latest.previous`], { stdio: 'ignore' });
  } finally {
    await registry.stop();
  }
});

function sha256(text: string): string {
  return execFileSync('sha256sum', { input: text, encoding: 'utf8' }).split(' ')[0]!;
}
