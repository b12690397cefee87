/**
 * Registries that misbehave in ways a real one will not, played by a small
 * fake server on 127.0.0.1 (everything else in test/remote runs against the
 * real docker-registry): a manifest of the wrong media type (an HTML page, a
 * Docker schema 1 manifest, a Docker manifest list under a checkpoint tag, a
 * manifest with malformed descriptors), an endless blob body, an endless
 * manifest body, endless bodies on error answers that are retried, and a
 * redirect loop. Each ends in a clear error (code, and a message naming the
 * reference and what to do) within seconds, the server sees the connection
 * closed (nothing keeps reading an endless body), and nothing is written:
 * no layout, no blob, no temp file.
 *
 * Already covered elsewhere, not repeated: a blob or manifest not matching
 * its digest and a redirect to another host (test/remote/transport.test.ts),
 * 5xx/429 retries and dropped uploads (test/remote/push.test.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EibError } from '../../src/errors.js';
import { canonicalJsonBytes } from '../../src/oci/canonical-json.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType, type ImageManifest } from '../../src/oci/types.js';
import { checkpointTag } from '../../src/remote/checkpoint-manifest.js';
import { pullImage } from '../../src/remote/push.js';
import { parseReference } from '../../src/remote/reference.js';
import { SharedCache } from '../../src/remote/shared-cache.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { configFor } from '../remote/shared-cache-fixture.js';
import { fakeKey, writeCraftedImage } from './layers-craft.js';

const fast = { credential: async () => undefined, retryDelayMs: 10, maxAttempts: 3 };
const cleanup: string[] = [];

/** A small real image (manifest bytes and blobs) for the fake to serve. */
let image: { manifest: Buffer; digest: string; blobs: Map<string, Buffer>; parsed: ImageManifest };

before(async () => {
  const dir = temp('eib-fake-src-');
  const digest = await writeCraftedImage(dir, 'v1', [{ name: 'base', entries: [{ path: 'etc', type: 'dir' }, { path: 'etc/hostname', body: 'device\n' }] }]);
  const read = (d: string): Buffer => readFileSync(join(dir, 'blobs', 'sha256', d.slice('sha256:'.length)));
  const manifest = read(digest);
  const parsed = JSON.parse(manifest.toString('utf8')) as ImageManifest;
  const blobs = new Map([parsed.config, ...parsed.layers].map((d) => [d.digest as string, read(d.digest)]));
  image = { manifest, digest, blobs, parsed };
});

after(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

function temp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.push(dir);
  return dir;
}

interface Fake {
  host: string;
  /** Body bytes the server has written so far. */
  sent(): number;
  /** Responses whose connection is still open. */
  open(): number;
  requests: string[];
  stop(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, fake: { endless: (res: http.ServerResponse) => void }) => void;

/** A registry that answers /v2/ and hands every other request to `handle`. */
async function fakeRegistry(handle: Handler): Promise<Fake> {
  let sent = 0;
  let open = 0;
  const requests: string[] = [];
  const chunk = Buffer.alloc(64 << 10, 0x61);
  const endless = (res: http.ServerResponse): void => {
    const pump = (): void => {
      while (!res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };
  const server = http.createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    open++;
    res.on('close', () => open--);
    if (req.url === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    handle(req, res, { endless });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent: () => sent,
    open: () => open,
    requests,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Serve `manifest` (as `contentType`) for every manifest request, the image's blobs for blob requests. */
function serving(manifest: Buffer, contentType: string, blob?: Handler): Handler {
  return (req, res, fake) => {
    if (req.url?.includes('/manifests/')) {
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': String(manifest.length), 'Docker-Content-Digest': digestOf(manifest) });
      return void res.end(req.method === 'HEAD' ? undefined : manifest);
    }
    if (blob) return blob(req, res, fake);
    const body = image.blobs.get(/\/blobs\/(sha256:[0-9a-f]+)$/.exec(req.url ?? '')?.[1] ?? '');
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': String(body.length) }).end(body);
  };
}

/** Wait until the fake has no open response left, or fail after `ms`. */
async function allClosed(fake: Fake, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (fake.open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(fake.open(), 0, 'every connection of the fake was closed');
}

/** The layout folder a pull would create: absent, or without blobs and temp files. */
function nothingPulled(dir: string): void {
  if (!existsSync(dir)) return;
  for (const sub of ['blobs/sha256', 'tmp']) {
    const p = join(dir, sub);
    assert.deepEqual(existsSync(p) ? readdirSync(p) : [], [], `${sub} is empty`);
  }
}

test('pull: an HTML page where the manifest should be is refused, naming the reference', async () => {
  const fake = await fakeRegistry(serving(Buffer.from('<html><body>Please log in</body></html>'), 'text/html; charset=utf-8'));
  const dir = join(temp('eib-pull-'), 'oci');
  try {
    await assert.rejects(pullImage(parseReference(`${fake.host}/team/app:v1`), dir, fast), (e: unknown) => {
      assert.ok(e instanceof EibError, String(e));
      assert.equal(e.code, 'EREGISTRY');
      assert.match(e.message, new RegExp(`${fake.host}/team/app:v1`));
      assert.match(e.message, /text\/html/);
      assert.match(e.message, /not an image manifest or index/);
      assert.match(e.message, /check the reference/);
      return true;
    });
    nothingPulled(dir);
  } finally {
    await fake.stop();
  }
});

test('pull: a manifest of a media type eib did not ask for (Docker schema 1) is refused before any blob is fetched', async () => {
  const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'team/app', tag: 'v1', architecture: 'arm64', fsLayers: [{ blobSum: image.parsed.layers[0]!.digest }], history: [] }));
  const fake = await fakeRegistry(serving(schema1, 'application/vnd.docker.distribution.manifest.v1+prettyjws'));
  const dir = join(temp('eib-pull-'), 'oci');
  try {
    await assert.rejects(pullImage(parseReference(`${fake.host}/team/app:v1`), dir, fast), (e: unknown) => {
      assert.ok(e instanceof EibError, String(e));
      assert.equal(e.code, 'EREGISTRY');
      assert.match(e.message, /application\/vnd\.docker\.distribution\.manifest\.v1\+prettyjws/);
      assert.match(e.message, /not an image manifest or index/);
      return true;
    });
    assert.deepEqual(fake.requests.filter((r) => r.includes('/blobs/')), []);
    nothingPulled(dir);
  } finally {
    await fake.stop();
  }
});

test('pull: an image manifest without layers, or with a descriptor whose digest is a path, is refused and writes nothing', async () => {
  const noLayers = canonicalJsonBytes({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config: image.parsed.config });
  const escaping = canonicalJsonBytes({ ...image.parsed, layers: [{ ...image.parsed.layers[0]!, digest: 'sha256:../../../../../../tmp/eib-fake-blob' }] });
  for (const manifest of [noLayers, escaping]) {
    const fake = await fakeRegistry(serving(manifest, MediaType.ImageManifest));
    const dir = join(temp('eib-pull-'), 'oci');
    try {
      await assert.rejects(pullImage(parseReference(`${fake.host}/team/app:v1`), dir, fast), (e: unknown) => {
        assert.ok(e instanceof EibError, String(e));
        assert.equal(e.code, 'EREGISTRY');
        assert.match(e.message, new RegExp(`${fake.host}/team/app:v1`));
        assert.match(e.message, /malformed/);
        return true;
      });
      assert.deepEqual(fake.requests.filter((r) => r.includes('/blobs/')), []);
      nothingPulled(dir);
      assert.equal(existsSync('/tmp/eib-fake-blob'), false);
    } finally {
      await fake.stop();
    }
  }
});

test('shared cache: an HTML page or a Docker manifest list under a checkpoint tag is no checkpoint', async () => {
  const key = fakeKey('wrong media type');
  const list = canonicalJsonBytes({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [{ mediaType: MediaType.DockerManifest, digest: image.digest, size: image.manifest.length, platform: { architecture: 'arm64', os: 'linux' } }] });
  for (const [body, type] of [
    [Buffer.from('<html>maintenance</html>'), 'text/html'],
    [list, MediaType.DockerManifestList],
  ] as const) {
    const fake = await fakeRegistry(serving(body, type));
    const cacheDir = temp('eib-sc-fake-');
    const warnings: string[] = [];
    const cache = new SharedCache(configFor({ cacheDir, registry: `${fake.host}/team/cache` }), new BlobStore(cacheDir), { warn: (m) => warnings.push(m), client: fast });
    try {
      assert.equal(await cache.lookup(key, 'aarch64'), false, `${type}: lookup says there is no checkpoint`);
      assert.match(warnings.join('\n'), new RegExp(`${checkpointTag(key, 'aarch64')}.*${type.replace(/[.+]/g, '\\$&')}.*not an eib checkpoint`));
      if (type === 'text/html') {
        // Not even JSON: a proxy's page, not something in the registry; the stage is built locally.
        assert.equal(await cache.fetch(key, 'aarch64'), undefined);
        assert.match(warnings.at(-1)!, /not JSON.*building this stage locally/);
      } else {
        // Something else stored under eib's tag: refused, and the message says to delete it.
        await assert.rejects(cache.fetch(key, 'aarch64'), (e: unknown) => e instanceof EibError && e.code === 'EINTEGRITY' && /not an OCI image manifest.*delete the tag/.test(e.message));
      }
      assert.deepEqual(readdirSync(cacheDir).filter((n) => n !== 'tmp'), [], 'no checkpoint, snapshot or blob');
      assert.deepEqual(fake.requests.filter((r) => r.includes('/blobs/')), []);
    } finally {
      cache.close();
      await fake.stop();
    }
  }
});

test('an endless blob body stops at the declared size with EBADSIZE; the blob is not stored', async () => {
  const layer = image.parsed.layers[0]!;
  const fake = await fakeRegistry(
    serving(image.manifest, MediaType.ImageManifest, (req, res, { endless }) => {
      if (req.url?.endsWith(layer.digest)) {
        // No Content-Length: chunked, forever.
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        return endless(res);
      }
      const body = image.blobs.get(image.parsed.config.digest)!;
      res.writeHead(200, { 'Content-Length': String(body.length) }).end(body);
    }),
  );
  const dir = join(temp('eib-pull-'), 'oci');
  const started = Date.now();
  try {
    await assert.rejects(pullImage(parseReference(`${fake.host}/team/app:v1`), dir, fast), (e: unknown) => {
      assert.ok(e instanceof EibError, String(e));
      assert.equal(e.code, 'EBADSIZE');
      assert.match(e.message, new RegExp(`downloading blob ${layer.digest} from ${fake.host}/team/app: received more than the expected ${layer.size} bytes`));
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'bounded in time');
    await allClosed(fake);
    assert.ok(fake.sent() < 32 << 20, `bounded: the client read ${fake.sent()} bytes at most`);
    assert.equal(existsSync(join(dir, 'blobs', 'sha256', layer.digest.slice('sha256:'.length))), false);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no temp file');
  } finally {
    await fake.stop();
  }
});

test('a blob announced larger than its descriptor is refused before its body is read', async () => {
  const fake = await fakeRegistry(
    serving(image.manifest, MediaType.ImageManifest, (_req, res, { endless }) => {
      res.writeHead(200, { 'Content-Length': String(1e12) });
      endless(res);
    }),
  );
  const dir = join(temp('eib-pull-'), 'oci');
  try {
    await assert.rejects(
      pullImage(parseReference(`${fake.host}/team/app:v1`), dir, fast),
      (e: unknown) => e instanceof EibError && e.code === 'EBADSIZE' && /downloading blob sha256:[0-9a-f]{64} from .*: the registry announced 1000000000000 bytes, the descriptor says \d+/.test(e.message),
    );
    await allClosed(fake);
    nothingPulled(dir);
  } finally {
    await fake.stop();
  }
});

test('an endless manifest body is cut at 4 MiB, on pull and on a shared cache fetch', async () => {
  const fake = await fakeRegistry((req, res, { endless }) => {
    res.writeHead(200, { 'Content-Type': MediaType.ImageManifest });
    if (req.method === 'HEAD') return void res.end();
    res.write('{"schemaVersion":2,"padding":"');
    endless(res);
  });
  const dir = join(temp('eib-pull-'), 'oci');
  const cacheDir = temp('eib-sc-fake-');
  const cache = new SharedCache(configFor({ cacheDir, registry: `${fake.host}/team/cache` }), new BlobStore(cacheDir), { warn: () => undefined, client: fast });
  try {
    const started = Date.now();
    await assert.rejects(pullImage(parseReference(`${fake.host}/team/app:v1`), dir, fast), (e: unknown) => e instanceof EibError && e.code === 'EBADSIZE' && new RegExp(`getting manifest ${fake.host}/team/app:v1: the manifest is larger than 4194304 bytes`).test(e.message));
    const key = fakeKey('endless manifest');
    await assert.rejects(cache.fetch(key, 'aarch64'), (e: unknown) => e instanceof EibError && e.code === 'EBADSIZE' && e.message.includes(checkpointTag(key, 'aarch64')));
    assert.ok(Date.now() - started < 10_000, 'bounded in time');
    await allClosed(fake);
    assert.ok(fake.sent() < 2 * (16 << 20), `bounded: ${fake.sent()} bytes sent for two reads`);
    nothingPulled(dir);
  } finally {
    cache.close();
    await fake.stop();
  }
});

test('endless bodies on answers that are retried or redirected are not read forever', async () => {
  let answered = 0;
  const fake = await fakeRegistry((req, res, { endless }) => {
    answered++;
    // A 503 (retried), then a redirect to itself (followed), both with endless bodies.
    if (answered % 2 === 1) res.writeHead(503, { 'Content-Type': 'text/plain' });
    else res.writeHead(307, { Location: req.url ?? '/' });
    endless(res);
  });
  const dir = join(temp('eib-pull-'), 'oci');
  try {
    await assert.rejects(pullImage(parseReference(`${fake.host}/team/app:v1`), dir, fast), (e: unknown) => e instanceof EibError && e.code === 'EREGISTRY' && e.message.includes(`${fake.host}/team/app:v1`));
    await allClosed(fake);
    const sent = fake.sent();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(fake.sent(), sent, 'nothing reads the endless bodies any more');
    assert.ok(sent < 32 << 20, `${sent} bytes read in all`);
    nothingPulled(dir);
  } finally {
    await fake.stop();
  }
});

test('a redirect loop ends after a few hops with a clear error', async () => {
  const fake = await fakeRegistry((req, res) => {
    res.writeHead(302, { Location: `/v2/team/app/manifests/hop${(Number(/hop(\d+)/.exec(req.url ?? '')?.[1] ?? 0) + 1) % 2}` }).end();
  });
  try {
    await assert.rejects(pullImage(parseReference(`${fake.host}/team/app:v1`), join(temp('eib-pull-'), 'oci'), fast), (e: unknown) => e instanceof EibError && e.code === 'EREGISTRY' && /too many redirects from 127\.0\.0\.1:\d+/.test(e.message) && e.message.includes('team/app:v1'));
    assert.ok(fake.requests.length <= 8, `${fake.requests.length} requests`);
  } finally {
    await fake.stop();
  }
});
