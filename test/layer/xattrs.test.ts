/**
 * The one getfattr-dump writer: paths and names that need quoting (space,
 * newline, '=', backslash, non-ASCII and non-UTF-8 bytes) and binary or
 * empty values survive `setfattr --restore`, read back by getfattr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LayerError } from '../../src/layer/errors.js';
import { escapeDumpText, readTreeXattrs, restoreXattrs, xattrDump, type XattrRecord } from '../../src/layer/xattrs.js';

const latin1 = (utf8: string): string => Buffer.from(utf8, 'utf8').toString('latin1');

test('the dump quotes as getfattr does: space, =, backslash, newline and bytes above 0x7e as octal', () => {
  assert.equal(escapeDumpText('a b=c\\d\ne\x7f\xff'), 'a\\040b\\075c\\134d\\012e\\177\\377');
  const text = Buffer.concat([...xattrDump([{ path: '', attrs: [['user.a=b', Buffer.from([0, 1, 0xff])], ['user.empty', Buffer.alloc(0)]] }])]).toString('latin1');
  assert.equal(text, '# file: .\nuser.a\\075b=0sAAH/\nuser.empty=""\n\n');
});

test('setfattr --restore sets what the dump says on awkward paths and names; getfattr reads it back', async () => {
  const root = mkdtempSync(join(tmpdir(), 'eib-xattrs-'));
  const paths = ['plain', 'with space', 'new\nline', 'eq=ual', 'back\\slash', 'café', 'dir/nested #1'];
  mkdirSync(join(root, 'dir'));
  for (const p of paths) writeFileSync(join(root, p), '');
  const rawName = Buffer.from([0x66, 0xff, 0x2e]); // "f\xff." is not UTF-8
  writeFileSync(Buffer.concat([Buffer.from(`${root}/`), rawName]), '');

  const value = Buffer.from('line one\nquote " and \\ and \0 nul', 'latin1');
  const records: XattrRecord[] = [
    ...paths.map((p) => ({ path: latin1(p), attrs: [['user.a=b c', value], [latin1('user.näme'), Buffer.from('v')]] as const })),
    { path: rawName.toString('latin1'), attrs: [['user.raw', Buffer.from([0xff, 0])]] },
    { path: '', attrs: [['user.root', Buffer.alloc(0)]] },
  ];
  await restoreXattrs(root, records, 'test restore');

  // getfattr, asked one file and one attribute at a time, prints the raw value.
  const raw = (p: string, name: string): string =>
    execFileSync('getfattr', ['-h', '--absolute-names', '--only-values', '-n', name, join(root, p)], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'] });
  for (const p of paths) {
    assert.equal(Buffer.from(raw(p, 'user.a=b c'), 'latin1').equals(value), true, `${JSON.stringify(p)}: user.a=b c`);
    assert.equal(raw(p, 'user.näme'), 'v', `${JSON.stringify(p)}: user.näme`);
  }
  // The whole tree through the reader (one getfattr -R), non-UTF-8 path included.
  const tree = await readTreeXattrs(root);
  assert.deepEqual(tree.attrs.get(rawName.toString('latin1'))?.get('user.raw'), Buffer.from([0xff, 0]));
  assert.deepEqual(tree.attrs.get('')?.get('user.root'), Buffer.alloc(0));
  assert.deepEqual(tree.attrs.get(latin1('new\nline'))?.get('user.a=b c'), value);
});

test('a restore that setfattr refuses is an EXATTR LayerError naming the work and quoting setfattr', async () => {
  const root = mkdtempSync(join(tmpdir(), 'eib-xattrs-'));
  await assert.rejects(restoreXattrs(root, [{ path: 'missing', attrs: [['user.x', Buffer.from('1')]] }], 'setting attributes of a test tree'), (e: unknown) => {
    assert.ok(e instanceof LayerError);
    assert.equal(e.code, 'EXATTR');
    assert.match(e.message, /^setting attributes of a test tree failed \(setfattr exit 1\): .*missing/);
    return true;
  });
});
