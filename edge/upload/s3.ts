/**
 * The S3 calls a resumable segment upload needs, over node:http(s), signed with AWS Signature
 * Version 4 by `aws4`: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
 * AbortMultipartUpload, HeadObject (Amazon S3 API reference; MinIO, Ceph RGW, Garage and
 * SeaweedFS speak the same). Path-style addressing (`<endpoint>/<bucket>/<key>`), which every
 * S3-compatible store on a hospital's own network takes.
 *
 * Why not the AWS SDK: its releases from January 2027 need Node 22, the box runs Node 20, and
 * these five calls are small. Each part carries Content-MD5 (the store refuses a part that
 * arrived damaged) and its SHA-256 as the signed payload hash.
 *
 * Bounds: a response body is read up to MAX_RESPONSE bytes (an error or an XML result is far
 * smaller); every request has a timeout (`timeoutMs`, default 60 s) after which it fails.
 * Errors: S3Error with the store's code (`NoSuchUpload`, `AccessDenied`, ...) or `Network`/
 * `Timeout`, the HTTP status, and the request it answered.
 * Runs where the uploader runs (control worker). Stateless apart from its keep-alive agent.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import aws4 from 'aws4';

const MAX_RESPONSE = 64 * 1024;

export interface S3Target {
  /** `https://store.hospital.example:9000` (http only for a store on loopback or in a lab). */
  endpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** CA certificates (PEM) the store's certificate must chain to; default Node's bundled roots. */
  ca?: string;
  timeoutMs?: number;
}

export class S3Error extends Error {
  constructor(readonly code: string, readonly status: number, readonly request: string, message: string) {
    super(`${request}: ${code}${status ? ` (HTTP ${status})` : ''}: ${message}`);
    this.name = 'S3Error';
  }
}

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

/** Key segments encoded as S3 wants them in a path (RFC 3986 unreserved kept, `/` kept). */
const encodeKey = (key: string): string => key.split('/').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');

const xmlText = (xml: string, tag: string): string | undefined => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];

export class S3Client {
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(private readonly t: S3Target) {
    this.url = new URL(t.endpoint);
    if (this.url.protocol !== 'https:' && this.url.protocol !== 'http:') throw new S3Error('BadEndpoint', 0, 'config', `endpoint ${t.endpoint}: http or https only`);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(t.bucket)) throw new S3Error('InvalidBucketName', 0, 'config', `bucket "${t.bucket}": 3-63 lowercase letters, digits, dots, hyphens`);
    this.agent = this.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 2, ...(t.ca ? { ca: t.ca } : {}) }) : new http.Agent({ keepAlive: true, maxSockets: 2 });
  }

  async createMultipartUpload(key: string, contentType = 'application/octet-stream'): Promise<string> {
    const r = await this.call('CreateMultipartUpload', 'POST', key, 'uploads=', Buffer.alloc(0), { 'Content-Type': contentType });
    const id = xmlText(r.body, 'UploadId');
    if (!id) throw new S3Error('BadResponse', r.status, 'CreateMultipartUpload', 'no UploadId in the answer');
    return id;
  }

  /** Uploads one part (1..10000); returns its ETag as the store gave it (quoted). */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const md5 = createHash('md5').update(body).digest('base64');
    const r = await this.call('UploadPart', 'PUT', key, `partNumber=${partNumber}&uploadId=${encodeURIComponent(uploadId)}`, body, { 'Content-MD5': md5 });
    const etag = r.headers.etag;
    if (typeof etag !== 'string') throw new S3Error('BadResponse', r.status, 'UploadPart', `part ${partNumber}: no ETag in the answer`);
    return etag;
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[]): Promise<string> {
    const xml = `<CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${p.etag.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    const r = await this.call('CompleteMultipartUpload', 'POST', key, `uploadId=${encodeURIComponent(uploadId)}`, Buffer.from(xml), { 'Content-Type': 'application/xml' });
    // S3 can answer 200 with an <Error> body to a Complete that failed late.
    const code = xmlText(r.body, 'Code');
    if (code) throw new S3Error(code, r.status, 'CompleteMultipartUpload', xmlText(r.body, 'Message') ?? '');
    return xmlText(r.body, 'ETag')?.replace(/&quot;/g, '"') ?? '';
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.call('AbortMultipartUpload', 'DELETE', key, `uploadId=${encodeURIComponent(uploadId)}`, Buffer.alloc(0), {});
  }

  /** Size and ETag of a stored object; null when there is none. */
  async headObject(key: string): Promise<{ bytes: number; etag: string } | null> {
    try {
      const r = await this.call('HeadObject', 'HEAD', key, '', Buffer.alloc(0), {});
      return { bytes: Number(r.headers['content-length'] ?? -1), etag: String(r.headers.etag ?? '') };
    } catch (err) {
      if (err instanceof S3Error && err.status === 404) return null;
      throw err;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private call(request: string, method: string, key: string, query: string, body: Buffer, headers: Record<string, string>): Promise<Reply> {
    const base = this.url.pathname.replace(/\/$/, '');
    const path = `${base}/${this.t.bucket}/${encodeKey(key)}${query ? `?${query}` : ''}`;
    const signed = aws4.sign({
      host: this.url.host, method, path, service: 's3', region: this.t.region, body,
      headers: { ...headers, 'Content-Length': String(body.length), 'X-Amz-Content-Sha256': createHash('sha256').update(body).digest('hex') },
    }, this.t.credentials);
    const lib = this.url.protocol === 'https:' ? https : http;
    const timeoutMs = this.t.timeoutMs ?? 60_000;
    return new Promise<Reply>((resolve, reject) => {
      const req = lib.request({
        protocol: this.url.protocol, hostname: this.url.hostname, port: this.url.port || undefined,
        method, path, headers: signed.headers as http.OutgoingHttpHeaders, agent: this.agent, timeout: timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => { if (size < MAX_RESPONSE) { chunks.push(c); size += c.length; } });
        res.on('error', (e) => reject(new S3Error('Network', res.statusCode ?? 0, request, e.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).subarray(0, MAX_RESPONSE).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 300) {
            reject(new S3Error(xmlText(text, 'Code') ?? (status === 404 ? 'NotFound' : 'HttpError'), status, request, xmlText(text, 'Message') ?? (text.slice(0, 200) || res.statusMessage || '')));
            return;
          }
          resolve({ status, headers: res.headers, body: text });
        });
      });
      req.on('timeout', () => req.destroy(new S3Error('Timeout', 0, request, `no answer within ${timeoutMs} ms`)));
      req.on('error', (e) => reject(e instanceof S3Error ? e : new S3Error('Network', 0, request, e.message)));
      req.end(body);
    });
  }
}

/** The ETag S3 gives an object made of these parts: md5 of the parts' binary md5s, "-", count. */
export function multipartEtag(partMd5s: readonly Buffer[]): string {
  return `"${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}"`;
}
