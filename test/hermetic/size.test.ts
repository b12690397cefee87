/**
 * Image size: `eib size` totals agree with `du` of the exported rootfs and
 * per package with the files it installed; `outputs.max-size` fails a build
 * one byte over the rootfs and passes at it; `eib build` prints the size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { editYaml, eib, hermeticProject } from './project.js';

interface SizeJson {
  total: number;
  files: number;
  stage: string;
  packages: { name: string; version: string; bytes: number }[];
  paths: { name: string; bytes: number }[];
}

test('eib size agrees with du of the exported rootfs; outputs.max-size fails one byte under the rootfs and passes at it', async () => {
  const project = await hermeticProject({ epoch: 1700000000, run: 'echo configured > /etc/state; /bin/busybox ln /bin/busybox /bin/hardlinked' });
  const built = await eib(project, ['build']);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stderr, /image: 2 layers, [\d.]+ [KM]iB compressed/);

  const r = await eib(project, ['size', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const size = JSON.parse(r.stdout) as SizeJson;
  assert.equal(size.stage, 'configure');
  const tar = join(project.dir, 'rootfs.tar');
  assert.equal((await eib(project, ['export', tar])).code, 0);
  const root = join(project.dir, 'rootfs');
  mkdirSync(root);
  execFileSync('tar', ['-xf', tar, '-C', root]);
  const du = execFileSync('sh', ['-c', `find "${root}" -type f -print0 | du --files0-from=- -cb --apparent-size | tail -1`], { encoding: 'utf8' });
  assert.equal(size.total, Number(du.split('\t')[0]), 'total = du --apparent-size of the files, hardlinks once');
  assert.equal(size.files, Number(execFileSync('sh', ['-c', `find "${root}" -type f | wc -l`], { encoding: 'utf8' })) - 1, 'the hardlink is one file');

  const busybox = statSync('/bin/busybox').size;
  assert.deepEqual(size.packages.map((p) => [p.name, p.version, p.bytes]), [['busybox', '1.36.1-r0', busybox], ['hello', '1.0-r0', '1.0-r0\n'.length]]);
  assert.deepEqual(size.paths[0], { name: '/bin/', bytes: busybox });
  const base = JSON.parse((await eib(project, ['size', 'base', '--json'])).stdout) as SizeJson;
  assert.equal(base.stage, 'base');
  assert.ok(base.total < size.total, 'the configure stage added files');
  const text = await eib(project, ['size', '--top', '2']);
  assert.match(text.stdout, /^x86_64 rootfs up to stage configure: .* in \d+ files\nlargest packages:\n .* busybox 1\.36\.1-r0\n .* hello 1\.0-r0\nlargest paths:\n .* \/bin\/\n .* \/bin\/busybox\n$/);

  editYaml(project, (y) => `${y}outputs:\n  max-size: ${size.total - 1}\n`);
  const over = await eib(project, ['build']);
  assert.equal(over.code, 1, over.stderr);
  assert.match(over.stderr, new RegExp(`error: the x86_64 rootfs is .* \\(${size.total} bytes\\), more than outputs.max-size .* \\(${size.total - 1} bytes\\) of .*eib.yaml; largest packages: busybox`));
  editYaml(project, (y) => y.replace(`max-size: ${size.total - 1}`, `max-size: ${size.total}`));
  const at = await eib(project, ['build', '--json']);
  assert.equal(at.code, 0, at.stderr);
  assert.equal((JSON.parse(at.stdout) as { arches: { size: { rootfs: number } }[] }).arches[0]!.size.rootfs, size.total);
  assert.match(at.stderr, /rootfs [\d.]+ [KM]iB of at most/);
  editYaml(project, (y) => y.replace(`max-size: ${size.total}`, 'max-size: lots'));
  const bad = await eib(project, ['build']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /eib\.yaml:\d+:\d+: .*max-size.*expected bytes, or a number with K, M, G or T/);
});
