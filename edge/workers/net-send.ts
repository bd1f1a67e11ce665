/**
 * net-send worker: everything that leaves over the network. Today: every channel's hq and lq
 * stream served over RTSP at `rtsp://<box>:<rtsp.port>/<channel>/hq|lq` (RtspOut: the RTSP
 * server in a guarded child process; StreamSender: ring -> RFC 6184 packets + RTCP SR).
 * Consumes: video.*; the other inputs (audio, vitals) are drained until their senders land.
 *
 * Lifecycle: start() starts RtspOut (resolves when the server listens) and one sender per
 * encoded ring; stop() stops the senders and the server child. Events to control: `net-stats`
 * every 2 s (per stream: packets, SRs, capture -> first packet latency).
 */
import { RtspOut } from '../net/rtsp/index.js';
import { StreamSender } from '../video/send.js';
import { drainInputs, runWorker, type WorkerContext } from './runtime.js';

let out: RtspOut | undefined;
const senders: StreamSender[] = [];
let loops: Promise<unknown>[] = [];
let statsTimer: NodeJS.Timeout | undefined;

/** Drains the inputs net-send does not send yet (audio, vitals), keeping their cursors live. */
function drainOthers(ctx: WorkerContext): Promise<unknown> {
  const others: WorkerContext = Object.create(ctx, {
    rings: { value: (role: 'producer' | 'consumer', prefix = '') => ctx.rings(role, prefix).filter((r) => !r.startsWith('video.')) },
  });
  return drainInputs(others);
}

runWorker({
  async start(ctx) {
    const channels = ctx.config.channels;
    if (channels.length > 0) {
      out = new RtspOut({
        host: ctx.config.rtsp.host, port: ctx.config.rtsp.port,
        log: (level, msg) => ctx.log[level](msg),
      });
      await out.start();
      for (const ch of channels) {
        for (const role of ['hq', 'lq'] as const) {
          const s = new StreamSender({
            channel: ch.name, role, ring: ctx.consumer(`video.${ch.name}.${role}`), out, clock: ctx.clock,
            fps: ch.source.fps, cname: `${ctx.config.box.id}/${ch.name}`, log: ctx.log,
          });
          senders.push(s);
          loops.push(s.run());
        }
      }
      statsTimer = setInterval(() => ctx.emit({ type: 'net-stats', streams: senders.map((s) => s.stats()) }), 2000);
    }
    loops.push(drainOthers(ctx));
  },
  async stop() {
    clearInterval(statsTimer);
    await Promise.all(senders.map((s) => s.stop()));
    await out?.close();
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 500))]);
    loops = [];
  },
});
