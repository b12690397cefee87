/**
 * eib's side of a benchmark, in its own process so that its peak RSS is
 * measured alone. Prints one JSON line: { maxRssKiB, ... }.
 *   child.js write-layer <tree> <store>
 *   child.js flatten <layout> <tag>
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { flatten } from '../src/layer/flatten.js';
import { writeLayer } from '../src/layer/write.js';
import { BlobStore } from '../src/store/blob-store.js';
import { OciLayout } from '../src/store/layout.js';

async function main(): Promise<Record<string, unknown>> {
  const [op, a, b] = process.argv.slice(2);
  if (op === 'write-layer' && a && b) {
    const layer = await writeLayer(new BlobStore(b), { dir: a, kind: 'tree', epoch: 1_700_000_000 });
    return { digest: layer.descriptor.digest, size: layer.descriptor.size, uncompressed: layer.uncompressedSize };
  }
  if (op === 'flatten' && a && b) {
    const layout = await OciLayout.open(a);
    const manifest = await layout.readManifest(await layout.resolve(b));
    const hash = createHash('sha256');
    await pipeline(
      flatten(manifest.layers.map((l) => () => layout.blobs.open(l.digest))),
      new Writable({
        write(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          done();
        },
      }),
    );
    return { sha256: hash.digest('hex') };
  }
  throw new Error(`usage: child.js write-layer TREE STORE | flatten LAYOUT TAG (got ${process.argv.slice(2).join(' ')})`);
}

const result = await main();
process.stdout.write(`${JSON.stringify({ ...result, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
