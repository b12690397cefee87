/**
 * A forward proxy for tests, on 127.0.0.1: absolute-form requests for http
 * and CONNECT tunnels for https, optionally requiring Basic credentials
 * (407 otherwise), logging every request. Host names are resolved from a
 * map only the proxy knows ("registry.test" → 127.0.0.1:port), so a request
 * that reaches its server has provably gone through the proxy.
 */
import http from 'node:http';
import net from 'node:net';

export interface ProxyLogEntry {
  /** "CONNECT registry.test:5000" or "GET http://mirror.test/…". */
  line: string;
  /** The user of the Proxy-Authorization header, when one was sent. */
  user?: string;
  /** What the proxy answered (200 for a tunnel it opened). */
  status: number;
}

export interface ForwardProxy {
  /** http://127.0.0.1:port, without credentials. */
  url: string;
  port: number;
  log: ProxyLogEntry[];
  stop(): Promise<void>;
}

export interface ForwardProxyOptions {
  /** "name:port" or "name" (any port) → "127.0.0.1:port". */
  hosts: Record<string, string>;
  /** Credentials the proxy requires. */
  credentials?: { user: string; password: string };
}

function authorize(header: string | undefined, options: ForwardProxyOptions): { ok: boolean; user?: string } {
  const decoded = header?.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString('utf8') : undefined;
  const user = decoded?.slice(0, decoded.indexOf(':'));
  const ok = options.credentials === undefined || decoded === `${options.credentials.user}:${options.credentials.password}`;
  return user === undefined ? { ok } : { ok, user };
}

function target(hostPort: string, options: ForwardProxyOptions): { host: string; port: number } | undefined {
  const name = hostPort.slice(0, hostPort.lastIndexOf(':'));
  const mapped = options.hosts[hostPort] ?? options.hosts[name];
  if (mapped === undefined) return undefined;
  const i = mapped.lastIndexOf(':');
  return { host: mapped.slice(0, i), port: Number(mapped.slice(i + 1)) };
}

export async function startForwardProxy(options: ForwardProxyOptions): Promise<ForwardProxy> {
  const log: ProxyLogEntry[] = [];
  const record = (line: string, user: string | undefined, status: number): void => {
    log.push({ line, status, ...(user === undefined ? {} : { user }) });
  };
  const server = http.createServer((req, res) => {
    const auth = authorize(req.headers['proxy-authorization'], options);
    const line = `${req.method} ${req.url}`;
    if (!auth.ok) {
      record(line, auth.user, 407);
      req.resume();
      res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="eib test proxy"' }).end();
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      record(line, auth.user, 400);
      res.writeHead(400).end('absolute-form requests only');
      return;
    }
    const to = target(`${url.hostname}:${url.port || '80'}`, options);
    if (!to) {
      record(line, auth.user, 502);
      res.writeHead(502).end(`unknown host ${url.hostname}`);
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = http.request({ host: to.host, port: to.port, method: req.method, path: `${url.pathname}${url.search}`, headers }, (up) => {
      record(line, auth.user, up.statusCode ?? 0);
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const tunnels = new Set<net.Socket>();
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    tunnels.add(socket);
    socket.on('close', () => tunnels.delete(socket));
    const auth = authorize(req.headers['proxy-authorization'], options);
    const line = `CONNECT ${req.url}`;
    socket.on('error', () => undefined);
    if (!auth.ok) {
      record(line, auth.user, 407);
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="eib test proxy"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const to = target(req.url ?? '', options);
    if (!to) {
      record(line, auth.user, 502);
      socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = net.connect(to.port, to.host, () => {
      record(line, auth.user, 200);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    stop: async () => {
      server.closeAllConnections();
      for (const socket of tunnels) socket.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
