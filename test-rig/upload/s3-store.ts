/**
 * An S3-compatible store for upload tests, on loopback: s3rver (npm, an S3 REST implementation
 * in Node keeping objects on disk) behind a front that checks what s3rver does not: each
 * request's AWS Signature Version 4 (written here from the AWS specification, checked against
 * the S3 documentation's own example in test/s3-store.test.ts) and that the body is the one
 * whose SHA-256 was signed. A stand-in: no MinIO, Ceph or Garage is packaged for Debian here;
 * s3rver has no ListParts or AbortMultipartUpload, which the box's uploader does not use. Plus
 * a TCP relay that can cut every connection once a number of bytes has crossed it (a link lost
 * mid-part).
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** The front's TLS: PEM files of its certificate (chained to a test CA) and key. */
export interface StoreTls { cert: string; key: string }

export interface TestStore {
  endpoint: string;
  port: number;
  dir: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  close(): Promise<void>;
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (d: Buffer | string): string => createHash('sha256').update(d).digest('hex');
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The SigV4 signature a request should carry (header form), or why it cannot have one.
 * `path` is the request target as sent (path and query); `headers` lower-cased.
 */
export function expectedSigV4(method: string, path: string, headers: Record<string, string>, secretOf: (accessKeyId: string) => string | undefined):
  { ok: true; signature: string; provided: string } | { ok: false; code: string } {
  const auth = headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, code: 'AuthorizationHeaderMalformed' };
  const [, key, date, region, service, signed, provided] = m as unknown as string[];
  const secret = secretOf(key!);
  if (secret === undefined) return { ok: false, code: 'InvalidAccessKeyId' };
  const amzDate = headers['x-amz-date'] ?? '';
  if (!amzDate.startsWith(date!)) return { ok: false, code: 'AuthorizationHeaderMalformed' };
  const [uri, query = ''] = path.split('?', 2) as [string, string?];
  const canonicalQuery = query.split('&').filter(Boolean).map((kv) => {
    const [k, v = ''] = kv.split('=', 2) as [string, string?];
    return [rfc3986(decodeURIComponent(k)), rfc3986(decodeURIComponent(v))] as const;
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
  const names = signed!.split(';');
  const canonicalHeaders = names.map((n) => `${n}:${(headers[n] ?? '').trim().replace(/ +/g, ' ')}\n`).join('');
  const canonical = [method, uri, canonicalQuery, canonicalHeaders, signed, headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD'].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), service!), 'aws4_request');
  return { ok: true, signature: createHmac('sha256', kSigning).update(toSign).digest('hex'), provided: provided! };
}

/** A signed GET of a stored object (the box's uploader never reads back more than HeadObject). */
export async function getObject(s: TestStore, bucket: string, key: string): Promise<Buffer> {
  const aws4 = (await import('aws4')).default;
  const path = `/${bucket}/${key}`;
  const o = aws4.sign({ host: `127.0.0.1:${s.port}`, path, service: 's3', region: 'us-east-1', headers: { 'X-Amz-Content-Sha256': sha256('') } }, s.credentials);
  const tls = s.endpoint.startsWith('https:');
  return new Promise((resolve, reject) => {
    (tls ? https : http).get({ host: '127.0.0.1', port: s.port, path, headers: o.headers as http.OutgoingHttpHeaders, ...(tls ? { rejectUnauthorized: false } : {}) }, (res) => {
      const c: Buffer[] = [];
      res.on('data', (d: Buffer) => c.push(d));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(c)) : reject(new Error(`GET ${key}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

const s3ErrorXml = (code: string, message: string): string => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

export async function startS3Store(bucket: string, dir = mkdtempSync(join(tmpdir(), 'orbox-s3-')), port = 0, tls?: StoreTls): Promise<TestStore> {
  const srv = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const inner = ((await srv.run()) as { port: number }).port;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v ?? '']));
      const refuse = (status: number, code: string, msg: string) => { res.writeHead(status, { 'Content-Type': 'application/xml' }); res.end(req.method === 'HEAD' ? undefined : s3ErrorXml(code, msg)); };
      const sig = expectedSigV4(req.method!, req.url!, headers, (k) => (k === credentials.accessKeyId ? credentials.secretAccessKey : undefined));
      if (!sig.ok) return refuse(403, sig.code, 'refused by the test store\'s SigV4 check');
      if (sig.signature !== sig.provided) return refuse(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
      const claimed = headers['x-amz-content-sha256'];
      if (claimed && claimed !== 'UNSIGNED-PAYLOAD' && claimed !== sha256(body)) return refuse(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
      const up = http.request({ host: '127.0.0.1', port: inner, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (e) => refuse(502, 'InternalError', e.message));
      up.end(body);
    });
  };
  const front = tls ? https.createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler) : http.createServer(handler);
  await new Promise<void>((r) => front.listen(port, '127.0.0.1', r));
  const addr = (front.address() as { port: number }).port;
  return {
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${addr}`, port: addr, dir, credentials,
    close: async () => { front.closeAllConnections(); await new Promise((r) => front.close(r)); await srv.close(); },
  };
}

/** A relay to `port`; `cutAfter(n)` makes it drop every connection once n more bytes went up. */
export async function startCuttingRelay(port: number): Promise<{ port: number; upBytes: number; cuts: number; cutAfter(n: number): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let budget = Infinity;
  const state = { port: 0, upBytes: 0, cuts: 0, cutAfter: (n: number) => { budget = n; }, close: async () => { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); } };
  const server: Server = createServer((c) => {
    const u = connect(port, '127.0.0.1');
    sockets.add(c); sockets.add(u);
    c.on('data', (d: Buffer) => {
      state.upBytes += d.length;
      budget -= d.length;
      if (budget <= 0) { budget = Infinity; state.cuts++; c.destroy(); u.destroy(); return; }
      u.write(d);
    });
    u.on('data', (d: Buffer) => c.write(d));
    const end = () => { c.destroy(); u.destroy(); sockets.delete(c); sockets.delete(u); };
    c.on('close', end); u.on('close', end); c.on('error', end); u.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as { port: number }).port;
  return state;
}
