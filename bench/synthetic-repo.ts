/**
 * A synthetic signed apk repository of about 300 packages whose installed
 * size totals a target (0.1, 0.3, 1 GB…), with the file-size mix of
 * bench/tree.ts: mostly small text files, medium binaries, a few large
 * blobs. Packages depend on a few earlier ones; `synth-all` depends on all.
 * Built once per size with test/helpers/apk-builder.ts (one package in
 * memory at a time) and kept; a marker file says it is complete.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildApk, generateSigningKey, writeApkIndex, type BuildFile } from '../test/helpers/apk-builder.js';
import type { PackageInfo } from '../src/apk/types.js';
import { binaryBlock, rng, textBlock } from './tree.js';

export interface SyntheticRepo {
  /** Repository root: <repo>/<arch>/APKINDEX.tar.gz. */
  repo: string;
  /** The public key that signed it. */
  keyFile: string;
  /** The one package to install: depends on every other. */
  world: string[];
}

const PACKAGES = 300;
const KEY_NAME = 'eib-bench.rsa.pub';

/** File sizes of one package until its budget is spent. */
function fileSizes(rand: () => number, budget: number): number[] {
  const sizes: number[] = [];
  let left = budget;
  while (left > 0) {
    const r = rand();
    const size = r < 0.8 ? 200 + Math.floor(rand() * 8000) : r < 0.995 ? 64 * 1024 + Math.floor(rand() * 900 * 1024) : 8 * 1024 * 1024 + Math.floor(rand() * 8 * 1024 * 1024);
    const cut = Math.min(size, left);
    sizes.push(cut);
    left -= cut;
  }
  return sizes;
}

function packageFiles(rand: () => number, noise: Buffer, index: number, budget: number): BuildFile[] {
  const name = `synth${String(index).padStart(3, '0')}`;
  const files: BuildFile[] = [{ path: 'etc/' }, { path: 'usr/' }, { path: 'usr/lib/' }, { path: 'usr/share/' }, { path: `usr/lib/${name}/` }, { path: `usr/share/${name}/` }];
  for (const [k, size] of fileSizes(rand, budget).entries()) {
    if (size < 16 * 1024) {
      const path = k === 0 ? `etc/${name}.conf` : `usr/share/${name}/doc${k}.txt`;
      files.push({ path, content: textBlock(rand, size) });
    } else {
      const off = Math.floor(rand() * Math.max(1, noise.length - size));
      const content = size <= noise.length ? Buffer.concat([textBlock(rand, 512), noise.subarray(off, off + size - 512)]) : Buffer.concat(Array.from({ length: Math.ceil(size / noise.length) }, () => noise)).subarray(0, size);
      files.push({ path: `usr/lib/${name}/lib${k}.so`, content, mode: 0o755 });
    }
  }
  return files;
}

export async function ensureSyntheticRepo(dir: string, installedBytes: number, arch = 'x86_64'): Promise<SyntheticRepo> {
  const result: SyntheticRepo = { repo: join(dir, 'repo'), keyFile: join(dir, 'keys', KEY_NAME), world: ['synth-all'] };
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return result;
  await rm(dir, { recursive: true, force: true });
  const key = generateSigningKey(KEY_NAME);
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(result.keyFile, key.publicKey.export({ type: 'spki', format: 'pem' }));
  const rand = rng(7);
  const noise = binaryBlock(rand, 4 * 1024 * 1024);
  const archDir = join(result.repo, arch);
  const entries: PackageInfo[] = [];
  // Budgets vary ~10× between packages, like a real distribution's.
  const weights = Array.from({ length: PACKAGES }, () => Math.exp(rand() * 2.3));
  const total = weights.reduce((a, b) => a + b, 0);
  for (const [i, w] of weights.entries()) {
    const depends = i === 0 ? [] : Array.from({ length: Math.floor(rand() * 4) }, () => `synth${String(Math.floor(rand() * i)).padStart(3, '0')}`);
    const name = `synth${String(i).padStart(3, '0')}`;
    const files = packageFiles(rand, noise, i, Math.floor((installedBytes * w) / total));
    entries.push({ ...(await buildApk(archDir, { name, version: '1.0-r0', arch, depends: [...new Set(depends)], files }, key)), repository: result.repo });
  }
  entries.push({ ...(await buildApk(archDir, { name: 'synth-all', version: '1.0-r0', arch, depends: entries.map((e) => e.name), files: [] }, key)), repository: result.repo });
  await writeApkIndex(join(archDir, 'APKINDEX.tar.gz'), entries, key);
  await writeFile(marker, `${entries.length} packages, ${installedBytes} bytes installed\n`);
  return result;
}
