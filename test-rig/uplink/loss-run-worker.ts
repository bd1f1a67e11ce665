/**
 * The far side of a loss run (loss-run.ts) on a worker thread of its own: the lossy link
 * (`role: 'link'`) or the receiving end (`role: 'receiver'`, a ReceiveSession from the SDP,
 * recording each packet it hands its player: raw sequence number and absolute ms).
 * Protocol: the thread posts 'ready' once bound; on 'stop' it closes and posts its result.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { BoxClock } from '../../edge/lib/clock.js';
import { ReceiveSession, planFromSdp } from '../../edge/net/uplink/index.js';
import { St2022FecDecoder } from '../../edge/rtp/index.js';
import { LossyLink, type LossyLinkOptions } from '../net/lossy-link.js';

export type FarSide =
  | { role: 'link'; options: LossyLinkOptions }
  | { role: 'receiver'; sdp: string; basePort: number; latencyMs: number; retryMs: number };

export interface RunningSide { stop(): Promise<unknown> }

/** Starts a far side on its own thread; resolves once it is bound. */
export function startWorker(side: FarSide): Promise<RunningSide> {
  const w = new Worker(fileURLToPath(import.meta.url), { workerData: side });
  return new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('message', (m) => {
      if (m !== 'ready') { reject(new Error(String(m))); return; }
      resolve({
        stop: () => new Promise((res, rej) => {
          w.once('message', (r) => { void w.terminate(); res(r); });
          w.once('error', rej);
          w.postMessage('stop');
        }),
      });
    });
  });
}

async function run(side: FarSide): Promise<void> {
  const port = parentPort!;
  if (side.role === 'link') {
    const link = new LossyLink(side.options);
    await link.start();
    port.once('message', async () => { const stats = link.stats; await link.close(); port.postMessage(JSON.parse(JSON.stringify(stats))); });
    port.postMessage('ready');
    return;
  }
  const now = () => performance.timeOrigin + performance.now();
  const clock = new BoxClock();
  const emitted: [number, number][] = [];
  const plan = planFromSdp(side.sdp, side.basePort);
  const session = new ReceiveSession({
    channel: plan.channels[0]!, latencyMs: side.latencyMs, now, wallNs: () => clock.wallNs(), retryMs: side.retryMs,
    fecDecoder: (p) => new St2022FecDecoder({ sink: p.sink, columns: p.columns, rows: p.rows }),
    out: (pkt) => { emitted.push([(pkt[2]! << 8) | pkt[3]!, now()]); },
  });
  await session.start();
  const timer = setInterval(() => session.tick(now()), 5);
  port.once('message', async () => {
    clearInterval(timer);
    session.tick(now());
    const stats = session.stats();
    await session.close();
    port.postMessage({ emitted, stats });
  });
  port.postMessage('ready');
}

if (!isMainThread && workerData) {
  run(workerData as FarSide).catch((e: Error) => parentPort!.postMessage(`failed: ${e.stack ?? e.message}`));
}
