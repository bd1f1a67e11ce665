/**
 * The hospital's update server for tests: HTTPS (the fleet test PKI's server certificate) serving
 * bundle files with Range support (206, RFC 9110 §14), and a fault switch that cuts the next
 * responses after N bytes (a flaky link) so resume can be shown.
 */
import { createReadStream, statSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';

export interface BundleServer {
  url(file: string): string;
  /** Cuts each of the next `times` responses after `bytes` bytes of body. */
  cutNext(bytes: number, times?: number): void;
  /** Holds the body of each of the next `times` responses for `ms` (a slow link). */
  stallNext(ms: number, times?: number): void;
  /** Range headers received, in order ('' for none). */
  ranges: string[];
  close(): Promise<void>;
}

export async function startBundleServer(dir: string, tls: { cert: string; key: string }): Promise<BundleServer> {
  let cut: { bytes: number; times: number } | undefined;
  let stall: { ms: number; times: number } | undefined;
  const ranges: string[] = [];
  const server: Server = createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
    const path = join(dir, basename(decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname)));
    let size: number;
    try { size = statSync(path).size; } catch { res.writeHead(404).end(); return; }
    const range = req.headers.range ?? '';
    ranges.push(range);
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(range);
    if (m) {
      start = Number(m[1]);
      if (start >= size) { res.writeHead(416, { 'content-range': `bytes */${size}` }).end(); return; }
      res.writeHead(206, { 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}`, 'accept-ranges': 'bytes' });
    } else res.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes' });
    const c = cut && cut.times > 0 ? cut : undefined;
    if (c) c.times -= 1;
    const st = stall && stall.times > 0 ? stall : undefined;
    if (st) st.times -= 1;
    setTimeout(() => {
      const stream = createReadStream(path, { start, end: c ? Math.min(size - 1, start + c.bytes - 1) : size - 1 });
      stream.pipe(res, { end: !c });
      if (c) stream.on('end', () => setTimeout(() => res.socket?.destroy(), 20));
    }, st?.ms ?? 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (file) => `https://127.0.0.1:${port}/${basename(file)}`,
    cutNext(bytes, times = 1) { cut = { bytes, times }; },
    stallNext(ms, times = 1) { stall = { ms, times }; },
    ranges,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
