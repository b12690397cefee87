/**
 * The file-system helpers every module shares: atomic writes (mode, mtime,
 * no temporary file left behind), exists/lstat answers, and the tool
 * runner's results and typed errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EibError, HostError, ToolError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/fs/atomic-write.js';
import { formatBytes } from '../../src/fs/byte-size.js';
import { exists, lstatOrUndefined, readdirIfExists, readIfExists, statOrUndefined } from '../../src/fs/stat.js';
import { runTool, runToolChecked } from '../../src/fs/tool.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'eib-fs-'));

test('writeFileAtomic replaces a file with exact mode and mtime and leaves no temporary file', async () => {
  const dir = tmp();
  const path = join(dir, 'record.json');
  writeFileSync(path, 'old');
  await writeFileAtomic(path, 'new content\n', { mode: 0o600, mtime: 1_700_000_000 });
  assert.equal(readFileSync(path, 'utf8'), 'new content\n');
  const st = statSync(path);
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.mtimeMs, 1_700_000_000_000);
  assert.deepEqual(readdirSync(dir), ['record.json']);
});

test('writeFileAtomic into a missing folder fails and leaves nothing', async () => {
  const dir = tmp();
  await assert.rejects(writeFileAtomic(join(dir, 'gone', 'x'), 'data'), { code: 'ENOENT' });
  assert.deepEqual(readdirSync(dir), []);
});

test('exists and lstatOrUndefined: missing paths and paths below a file are absent; a dangling symlink is there to lstat only', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'file'), '');
  symlinkSync('nowhere', join(dir, 'dangling'));
  assert.equal(await exists(join(dir, 'file')), true);
  assert.equal(await exists(join(dir, 'missing')), false);
  assert.equal(await exists(join(dir, 'file', 'below')), false);
  assert.equal(await exists(join(dir, 'dangling')), false);
  assert.ok((await lstatOrUndefined(join(dir, 'dangling')))?.isSymbolicLink());
  assert.equal(await statOrUndefined(join(dir, 'dangling')), undefined);
  assert.equal(await lstatOrUndefined(join(dir, 'missing')), undefined);
});

test('readIfExists and readdirIfExists: what is there is read, what is not is undefined or empty, other failures are thrown', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'folder'));
  writeFileSync(join(dir, 'folder', 'b'), 'bee');
  writeFileSync(join(dir, 'folder', 'a'), '');
  assert.equal((await readIfExists(join(dir, 'folder', 'b')))?.toString(), 'bee');
  assert.equal(await readIfExists(join(dir, 'missing')), undefined);
  assert.deepEqual((await readdirIfExists(join(dir, 'folder'))).sort(), ['a', 'b']);
  assert.deepEqual(await readdirIfExists(join(dir, 'missing')), []);
  await assert.rejects(readIfExists(join(dir, 'folder')), { code: 'EISDIR' });
});

test('runTool returns exit status and output, feeds streamed input, and keeps the end of a long stderr', async () => {
  const r = await runTool(['sh', '-c', 'cat; echo err >&2; exit 3'], { input: [Buffer.from('a'), Buffer.from('b')] });
  assert.deepEqual(r, { code: 3, stdout: 'ab', stderr: 'err\n' });
  const long = await runTool(['sh', '-c', 'head -c 200000 /dev/zero | tr "\\0" x >&2; echo LAST >&2']);
  assert.ok(long.stderr.length <= 64 * 1024);
  assert.match(long.stderr, /LAST\n$/);
  const killed = await runTool(['sh', '-c', 'kill -TERM $$']);
  assert.equal(killed.code, 143);
});

test('runTool: a missing program is a HostError naming the Debian package; too much output is a ToolError', async () => {
  await assert.rejects(runTool(['eib-no-such-tool'], { debianPackage: 'eib-pkg' }), (e: unknown) => {
    assert.ok(e instanceof HostError);
    assert.equal(e.message, "eib-no-such-tool is not installed: install the Debian package 'eib-pkg' (scripts/setup-host.sh)");
    return true;
  });
  await assert.rejects(runTool(['sh', '-c', 'head -c 5000 /dev/zero'], { maxStdout: 1000 }), (e: unknown) => e instanceof ToolError && /more than 1000 bytes/.test(e.message));
});

test('runToolChecked turns a failure into the typed error asked for, ending with what the program said', async () => {
  await assert.rejects(runToolChecked(['sh', '-c', 'echo one >&2; echo two >&2; exit 1'], { doing: 'testing' }), (e: unknown) => {
    assert.ok(e instanceof ToolError);
    assert.equal(e.message, 'testing failed (sh exit 1): one\ntwo');
    return true;
  });
  const custom = runToolChecked(['false'], { doing: 'x', error: (m) => new EibError('ECUSTOM', m) });
  await assert.rejects(custom, { code: 'ECUSTOM', message: 'x failed (false exit 1): false printed nothing' });
});

test('formatBytes: bytes below 1 KiB exact, larger sizes in binary units with one decimal', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(12 * 2 ** 20), '12.0 MiB');
  assert.equal(formatBytes(3 * 2 ** 40), '3.0 TiB');
});
