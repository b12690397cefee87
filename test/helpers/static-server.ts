/**
 * A static file server for repository tests, on 127.0.0.1 (http, or https
 * with a certificate from makeCa): ETag/Last-Modified for revalidation, and
 * a log of each request with its status.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import type { TestCa } from './registry.js';

export interface StaticServer {
  /** http(s)://127.0.0.1:port */
  url: string;
  port: number;
  /** "STATUS /path" per request. */
  log: string[];
  close(): Promise<void>;
}

export async function serveStatic(root: string, options: { tls?: TestCa } = {}): Promise<StaticServer> {
  const log: string[] = [];
  const handler: http.RequestListener = (req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!path.startsWith(root) || !existsSync(path) || statSync(path).isDirectory()) {
      log.push(`404 ${req.url}`);
      res.writeHead(404).end('not found');
      return;
    }
    const st = statSync(path);
    const etag = `"${createHash('sha1').update(readFileSync(path)).digest('hex')}"`;
    if (req.headers['if-none-match'] === etag) {
      log.push(`304 ${req.url}`);
      res.writeHead(304).end();
      return;
    }
    log.push(`200 ${req.url}`);
    res.writeHead(200, { etag, 'last-modified': st.mtime.toUTCString(), 'content-length': st.size });
    createReadStream(path).pipe(res);
  };
  const server = options.tls ? https.createServer({ cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    log,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
