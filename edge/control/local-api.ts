/**
 * The local API: a Unix socket on the box that the `orbox` CLI talks to (status, debug, and
 * later record/channels). One JSON request per line, one JSON response per line:
 *   -> {"id": 1, "method": "status", "params": {...}}
 *   <- {"id": 1, "ok": true, "result": {...}}   or   {"id": 1, "ok": false, "error": "..."}
 * Lines are bounded (MAX_LINE) so a misbehaving client cannot grow the buffer without end.
 * Runs on the control worker. Lifecycle: listen() removes a stale socket file left by a
 * crash (only if nothing answers on it), close() is idempotent.
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { mkdirSync, rmSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';

export const MAX_LINE = 64 * 1024;

export type Handler = (params: Record<string, unknown>) => Promise<unknown> | unknown;

export class LocalApi {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(readonly path: string, private readonly methods: Record<string, Handler>) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    if (await isAnswering(this.path)) throw new Error(`another box is already serving ${this.path}`);
    rmSync(this.path, { force: true });
    const server = createServer((s) => this.serve(s));
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.path, resolve); });
    chmodSync(this.path, 0o660);
    this.server = server;
  }

  private serve(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', async (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        s.end(JSON.stringify({ id: null, ok: false, error: `request longer than ${MAX_LINE} bytes` }) + '\n');
        return;
      }
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        s.write(JSON.stringify(await this.answer(line)) + '\n');
      }
    });
  }

  private async answer(line: string): Promise<object> {
    let req: { id?: unknown; method?: unknown; params?: unknown };
    try { req = JSON.parse(line); } catch { return { id: null, ok: false, error: 'request is not JSON' }; }
    const id = req.id ?? null;
    const m = typeof req.method === 'string' ? this.methods[req.method] : undefined;
    if (!m) return { id, ok: false, error: `unknown method ${JSON.stringify(req.method)}; known: ${Object.keys(this.methods).join(', ')}` };
    try {
      return { id, ok: true, result: await m((req.params ?? {}) as Record<string, unknown>) };
    } catch (err) {
      return { id, ok: false, error: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(this.path, { force: true });
  }
}

function isAnswering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** Client side, for the CLI: one request, one answer. */
export function callLocalApi(path: string, method: string, params: object = {}, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`no answer from the box on ${path} within ${timeoutMs} ms`)); }, timeoutMs);
    c.setEncoding('utf8');
    c.once('connect', () => c.write(JSON.stringify({ id: 1, method, params }) + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      clearTimeout(timer);
      c.destroy();
      const res = JSON.parse(buf.slice(0, i));
      if (res.ok) resolve(res.result); else reject(new Error(res.error));
    });
    c.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? new Error(`no box is running on ${path} (${err.code}); start one with \`orbox run\``)
        : err);
    });
  });
}
