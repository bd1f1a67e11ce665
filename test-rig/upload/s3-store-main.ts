/**
 * The test store (s3-store.ts) as a process of its own, so upload tests talk to a server they
 * can kill and restart:
 *   node dist/test-rig/upload/s3-store-main.js --bucket <name> --dir <folder> [--port <n>] [--tls-cert <pem> --tls-key <pem>]
 * prints one JSON line {"port": n} once it listens; SIGTERM closes it, SIGKILL is a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startS3Store, type StoreTls, type TestStore } from './s3-store.js';

export interface StoreProcess extends TestStore {
  /** SIGKILL: the server dies mid-request. */
  kill(): Promise<void>;
}

/** Starts the store in its own process (the objects under `dir` survive a restart on the same `port`). */
export async function startS3StoreProcess(bucket: string, dir: string, port = 0, tls?: StoreTls): Promise<StoreProcess> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), '--bucket', bucket, '--dir', dir, '--port', String(port),
    ...(tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await Promise.race([
    once(createInterface({ input: child.stdout! }), 'line'),
    once(child, 'exit').then(([c]) => { throw new Error(`test S3 store exited ${c} before listening`); }),
  ])) as [string];
  const p = (JSON.parse(line) as { port: number }).port;
  const stop = async (sig: NodeJS.Signals) => { if (child.exitCode === null && child.signalCode === null) { child.kill(sig); await once(child, 'exit'); } };
  return {
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${p}`, port: p, dir, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    close: () => stop('SIGTERM'), kill: () => stop('SIGKILL'),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (n: string) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : undefined; };
  const cert = arg('--tls-cert'), key = arg('--tls-key');
  const store = await startS3Store(arg('--bucket') ?? 'test', arg('--dir'), Number(arg('--port') ?? 0), cert && key ? { cert, key } : undefined);
  process.stdout.write(`${JSON.stringify({ port: store.port })}\n`);
  process.on('SIGTERM', () => { void store.close().then(() => process.exit(0)); });
}
