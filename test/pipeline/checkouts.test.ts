/**
 * The image does not depend on where the project sits: the demo in two
 * folders, its repository given by a path relative to each (so the host
 * paths differ), builds to one digest, and no host path of the project
 * reaches the rootfs. /etc/apk/repositories lists alpine.image-repositories
 * (by default the URL repositories only: here none). A host file whose
 * name is not UTF-8 is copied with its name byte-exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { demoProject } from '../helpers/demo-project.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const skip = !existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'x86_64', 'APKINDEX.tar.gz')) && 'shared/alpine not present';

const LATIN1_E = Buffer.from([0xe9]);

/** The demo for x86_64 with an epoch, its repository at ./alpine/repo (a link to the shared one). */
function checkout(prefix: string): string {
  const dir = demoProject(
    (y) => y.replace(/^arch: aarch64$/m, 'arch: x86_64').replace(/^name: demo$/m, 'name: demo\nepoch: 1700000000').replace(`${SHARED_ALPINE}/repo/`, './alpine/repo/'),
    prefix,
  );
  symlinkSync(SHARED_ALPINE, join(dir, 'alpine'));
  // A host file whose name is not UTF-8 (Latin-1 "café"): copied byte-exact.
  writeFileSync(Buffer.concat([Buffer.from(join(dir, 'overlay', 'etc', 'caf')), LATIN1_E, Buffer.from('.conf')]), 'latin-1 name\n');
  return dir;
}

async function buildAndExport(dir: string): Promise<string> {
  const r = await runEib(['build', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const e = await runEib(['export', 'rootfs.tar'], { cwd: dir });
  assert.equal(e.code, 0, e.stderr);
  return (JSON.parse(r.stdout) as { digest: string }).digest;
}

const fileInTar = (tar: string, path: string): string => execFileSync('tar', ['-xOf', tar, path], { encoding: 'utf8' });

test('the same project in two folders gives the same digest, and no host path reaches the image', { skip, timeout: 300_000 }, async () => {
  const a = checkout('eib-checkout-a-');
  const b = checkout('eib-checkout-b-');
  assert.match(readFileSync(join(a, 'eib.yaml'), 'utf8'), /- \.\/alpine\/repo\/v3\.20\/main/);
  const [digestA, digestB] = [await buildAndExport(a), await buildAndExport(b)];
  assert.equal(digestA, digestB, 'the digest does not depend on the folder');
  const tar = join(a, 'rootfs.tar');
  assert.equal(fileInTar(tar, 'etc/apk/repositories'), '', 'a local repository is a host path: the image does not list it');
  const listing = execFileSync('tar', ['--quoting-style=literal', '-tf', tar]);
  assert.ok(listing.includes(Buffer.concat([Buffer.from('etc/caf'), LATIN1_E, Buffer.from('.conf\n')])), 'the non-UTF-8 name is in the rootfs, byte-exact');
  const bytes = readFileSync(tar);
  for (const hostPath of [a, SHARED_ALPINE]) assert.equal(bytes.indexOf(hostPath), -1, `${hostPath} appears nowhere in the rootfs`);

  // alpine.image-repositories says what the device's apk uses; changing it rebuilds the package stage.
  const mirror = 'https://dl-cdn.alpinelinux.org/alpine/v3.20/main';
  writeFileSync(join(a, 'eib.yaml'), readFileSync(join(a, 'eib.yaml'), 'utf8').replace('  keys:', `  image-repositories:\n    - ${mirror}\n  keys:`));
  const digestMirror = await buildAndExport(a);
  assert.notEqual(digestMirror, digestA);
  assert.equal(fileInTar(tar, 'etc/apk/repositories'), `${mirror}\n`);
});
