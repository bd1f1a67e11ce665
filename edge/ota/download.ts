/**
 * Bundle download over HTTPS with resume, a size limit and a sha256 check before RAUC sees it.
 *
 * The bytes go to `<dest>.part`; an interrupted download (link cut, process killed) resumes from
 * the part file's length with `Range: bytes=N-` (RFC 9110 §14.2): a 206 appends, a 200 means
 * the server ignored the range and the file restarts from 0. The hash is recomputed over the
 * whole file at the end (a part file written by a previous process cannot be trusted to match
 * a hash state kept in memory). Only a file whose sha256 matches is renamed to `dest`.
 *
 * Errors: DownloadError with `retryable` (network, 5xx: try again later, keeping the part) or not
 * (size over the limit, 4xx, hash mismatch: the part is deleted, the job fails). Runs on the
 * control worker.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

export interface DownloadOptions {
  url: string;
  dest: string;
  sha256: string;
  /** Refused above this many bytes (announced or received). */
  maxBytes: number;
  /** Expected size when the job says; 0 = unknown. */
  expectedBytes?: number;
  /** PEM of the CA(s) the server's certificate must chain to; default the system's. */
  ca?: string | Buffer;
  signal?: AbortSignal;
  onProgress?: (received: number, total: number) => void;
  /** Longest silence on the socket, ms. Default 30 000. */
  idleTimeoutMs?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** Bytes this call fetched (less than `bytes` after a resume). */
  fetched: number;
  resumedFrom: number;
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function download(o: DownloadOptions): Promise<DownloadResult> {
  const url = new URL(o.url);
  if (url.protocol !== 'https:') throw new DownloadError(`bundle URL must be https: ${o.url}`, false);
  if (!/^[0-9a-f]{64}$/.test(o.sha256)) throw new DownloadError(`sha256 must be 64 hex digits, not ${JSON.stringify(o.sha256)}`, false);
  if (o.expectedBytes && o.expectedBytes > o.maxBytes) throw new DownloadError(`bundle of ${o.expectedBytes} bytes is over the limit of ${o.maxBytes}`, false);
  const part = `${o.dest}.part`;
  if (existsSync(o.dest) && (await hashFile(o.dest)) === o.sha256) return { path: o.dest, bytes: statSync(o.dest).size, fetched: 0, resumedFrom: statSync(o.dest).size };
  let have = existsSync(part) ? statSync(part).size : 0;
  if (o.expectedBytes && have > o.expectedBytes) { rmSync(part, { force: true }); have = 0; }
  const resumedFrom = have;
  let fetched = 0;
  if (!o.expectedBytes || have < o.expectedBytes) {
    fetched = await new Promise<number>((resolve, reject) => {
      const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
      const req = request(url, { headers, ca: o.ca, signal: o.signal, timeout: o.idleTimeoutMs ?? 30_000 }, (res) => {
        const status = res.statusCode ?? 0;
        if (status === 416 && have > 0) { res.resume(); resolve(0); return; } // already complete
        if (status !== 200 && status !== 206) {
          res.resume();
          reject(new DownloadError(`GET ${o.url}: HTTP ${status}`, status >= 500 || status === 408 || status === 429));
          return;
        }
        const append = status === 206;
        if (!append) have = 0;
        const rest = Number(res.headers['content-length'] ?? 0);
        const total = rest ? have + rest : o.expectedBytes ?? 0;
        if (total > o.maxBytes) {
          res.destroy();
          rmSync(part, { force: true });
          reject(new DownloadError(`bundle of ${total} bytes is over the limit of ${o.maxBytes}`, false));
          return;
        }
        const out = createWriteStream(part, { flags: append ? 'a' : 'w' });
        let got = 0;
        res.on('data', (chunk: Buffer) => {
          got += chunk.length;
          if (have + got > o.maxBytes) {
            res.destroy(new DownloadError(`bundle over the limit of ${o.maxBytes} bytes`, false));
            return;
          }
          o.onProgress?.(have + got, total);
        });
        res.pipe(out);
        let failed: Error | undefined;
        res.on('error', (err) => { failed = err; out.end(); });
        res.on('aborted', () => { failed ??= new DownloadError(`GET ${o.url}: connection cut after ${have + got} bytes`, true); });
        out.on('close', () => {
          if (failed) reject(failed instanceof DownloadError ? failed : new DownloadError(`GET ${o.url}: ${failed.message} after ${have + got} bytes`, true));
          else if (rest && got < rest) reject(new DownloadError(`GET ${o.url}: connection cut after ${have + got} of ${total} bytes`, true));
          else resolve(got);
        });
      });
      req.on('timeout', () => req.destroy(new DownloadError(`GET ${o.url}: no data for ${o.idleTimeoutMs ?? 30_000} ms`, true)));
      req.on('error', (err) => reject(err instanceof DownloadError ? err : new DownloadError(`GET ${o.url}: ${err.message}`, !o.signal?.aborted)));
      req.end();
    });
  }
  const bytes = statSync(part).size;
  const sum = await hashFile(part);
  if (sum !== o.sha256) {
    rmSync(part, { force: true });
    throw new DownloadError(`sha256 of the downloaded bundle is ${sum}, the job says ${o.sha256}`, false);
  }
  renameSync(part, o.dest);
  return { path: o.dest, bytes, fetched, resumedFrom };
}
