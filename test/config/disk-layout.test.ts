/**
 * The disk layout rules (src/config/disk-layout.ts) on their own: where
 * partitions go, and every kind of overlap, checked without building.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planLayout, type LayoutInput } from '../../src/config/disk-layout.js';

const MiB = 2 ** 20;

function part(name: string, size: number | undefined, start?: number): LayoutInput<string>['partitions'][number] {
  return { name, ...(size === undefined ? {} : { size }), ...(start === undefined ? {} : { start }), at: name, sizeAt: `${name}.size`, startAt: `${name}.start` };
}

test('partitions follow each other at the alignment; the disk ends after the last one and the backup GPT', () => {
  const gpt = planLayout({ table: 'gpt', align: MiB, partitions: [part('a', 3 * MiB), part('b', 512 * 1024)], raw: [] });
  assert.deepEqual(gpt.problems, []);
  assert.deepEqual(gpt.partitions, [{ start: MiB, size: 3 * MiB }, { start: 4 * MiB, size: 512 * 1024 }]);
  assert.equal(gpt.diskSize, 5 * MiB, '4.5 MiB plus 33 sectors, rounded up to 1 MiB');
  const mbr = planLayout({ table: 'mbr', align: 4 * MiB, partitions: [part('a', MiB)], raw: [] });
  assert.deepEqual(mbr.partitions, [{ start: 4 * MiB, size: MiB }]);
  assert.equal(mbr.diskSize, 8 * MiB);
});

test('an unknown size hides what comes after it, but a given start is still placed', () => {
  const layout = planLayout({ table: 'gpt', align: MiB, partitions: [part('a', undefined), part('b', MiB), part('c', MiB, 64 * MiB)], raw: [{ offset: 8192, at: 'raw' }] });
  assert.deepEqual(layout.partitions, [undefined, undefined, { start: 64 * MiB, size: MiB }]);
  assert.equal(layout.diskSize, undefined);
  assert.deepEqual(layout.problems.map((p) => p.at), ['raw'], 'the raw write over the primary GPT is known anyway');
});

test('each problem is reported at the key that causes it', () => {
  const layout = planLayout({
    table: 'mbr',
    align: MiB,
    diskSize: 8 * MiB,
    partitions: [part('a', 4 * MiB), part('b', 2 * MiB, 2 * MiB), part('c', 1000), part('d', MiB), part('e', MiB)],
    raw: [{ offset: 0, length: 446, at: 'mbr-code' }, { offset: MiB + 4096, length: 10, at: 'into-a' }, { offset: 8 * MiB - 4, length: 16, at: 'past-end' }],
  });
  const has = (at: string, message: RegExp): void => assert.ok(layout.problems.some((p) => p.at === at && message.test(p.message)), `${at}: ${String(message)} in ${JSON.stringify(layout.problems)}`);
  has('e', /an MBR table holds at most 4 partitions/);
  has('b.start', /partition "b" \(from 2 MiB to 4 MiB\) overlaps partition "a" \(1 MiB to 5 MiB\)/);
  has('c.size', /1000 bytes is not a whole number of 512-byte sectors/);
  has('c.size', /partition "c" \(from 4 MiB to 4195304 bytes\) overlaps partition "a"/);
  has('mbr-code', /raw write at 0 \(446 bytes\) overlaps the MBR/);
  has('into-a', /overlaps partition "a"/);
  has('past-end', /ends past the end of the 8 MiB disk/);

  const small = planLayout({ table: 'gpt', align: MiB, diskSize: 5 * MiB, partitions: [part('a', 4 * MiB)], raw: [] });
  assert.deepEqual(small.problems, [{ at: 'a.size', message: 'partition "a" ends at 5 MiB, past the end of the 5 MiB disk less its backup GPT; make the disk or the partition fit' }]);
});
