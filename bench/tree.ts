/**
 * A deterministic tree of about 200 MB with a realistic mix: many small
 * text-like files (configs, scripts), medium binaries (libraries), a few
 * large ones (firmware, databases), symlinks and hardlinks. Content comes
 * from a seeded generator, so every run benchmarks the same bytes.
 */
import { existsSync, linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const WORDS = 'the of and to in is for on that with device kernel module config service network interface address route firmware package alpine busybox'.split(' ');

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

export function textBlock(rand: () => number, size: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const w = WORDS[Math.floor(rand() * WORDS.length)] ?? 'x';
    const piece = rand() < 0.1 ? `${w}=${Math.floor(rand() * 1e6)}\n` : `${w} `;
    parts.push(piece);
    n += piece.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

export function binaryBlock(rand: () => number, size: number): Buffer {
  // Half noise, half structure: compresses roughly like machine code.
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) {
    const v = rand() < 0.5 ? Math.floor(rand() * 0x1_0000_0000) : (i * 2654435761) & 0xff00ff00;
    b.writeUInt32LE(v >>> 0, Math.min(i, size - 4));
  }
  return b;
}

export function ensureBenchTree(root: string, targetBytes = 200 * 1024 * 1024): void {
  const marker = join(root, '.complete');
  if (existsSync(marker)) return;
  rmSync(root, { recursive: true, force: true });
  const rand = rng(42);
  let total = 0;
  let i = 0;
  const noise = binaryBlock(rand, 4 * 1024 * 1024);
  while (total < targetBytes) {
    const dir = join(root, 'usr', `pkg${String(Math.floor(i / 40)).padStart(3, '0')}`, i % 3 === 0 ? 'share' : 'lib');
    mkdirSync(dir, { recursive: true });
    const r = rand();
    let data: Buffer;
    if (r < 0.8) data = textBlock(rand, 200 + Math.floor(rand() * 8000));
    else if (r < 0.995) {
      const size = 64 * 1024 + Math.floor(rand() * 900 * 1024);
      const off = Math.floor(rand() * (noise.length - size));
      data = Buffer.concat([textBlock(rand, 4096), noise.subarray(off, off + size)]);
    } else {
      const size = 8 * 1024 * 1024 + Math.floor(rand() * 8 * 1024 * 1024);
      data = Buffer.concat(Array.from({ length: Math.ceil(size / noise.length) }, () => noise)).subarray(0, size);
    }
    const file = join(dir, `file${i}${r < 0.8 ? '.conf' : '.so'}`);
    writeFileSync(file, data);
    if (i % 50 === 0) symlinkSync(`file${i}${r < 0.8 ? '.conf' : '.so'}`, join(dir, `link${i}`));
    if (i % 97 === 0) linkSync(file, join(dir, `hard${i}`));
    total += data.length;
    i++;
  }
  writeFileSync(marker, `${i} files, ${total} bytes\n`);
}
