/**
 * net-send worker: everything that leaves over the network. Today: every channel's hq and lq
 * stream served over RTSP at `rtsp://<box>:<rtsp.port>/<channel>/hq|lq` (RtspOut: the RTSP
 * server in a guarded child process; StreamSender: ring -> RFC 6184 packets + RTCP SR).
 * Consumes: video.*; the other inputs (audio, vitals) are drained until their senders land.
 *
 * Lifecycle: start() starts one reader per encoded ring (AccessUnitFanout) and returns; the
 * RTSP publisher (RtspOut) is started right after, on the channel to the RTSP server child the
 * supervisor owns (boot.rtspServer: the child and its viewers outlive this incarnation), and
 * one sender per encoded ring subscribes once it is attached (it starts at the live end: it
 * needs a keyframe, so one is asked of video-encode for each stream an earlier incarnation
 * left playing, which the sender continues: same SSRC, timestamps, next sequence number).
 * Without boot.rtspServer (a worker run alone) RtspOut forks its own child, with retries.
 * stop() stops the senders (their mounts end with an RTCP BYE). Events to control: `net-stats`
 * every 2 s (per stream: packets, SRs, capture -> first packet latency).
 */
import { Backoff } from '../lib/backoff.js';
import { RtspOut } from '../net/rtsp/index.js';
import { AccessUnitFanout } from '../net/au-fanout.js';
import { Uplink } from '../net/uplink/index.js';
import { StreamSender } from '../net/stream-sender.js';
import { drainInputs, runWorker, type WorkerContext } from '../runtime/index.js';

let out: RtspOut | undefined;
const senders: StreamSender[] = [];
/** One reader per encoded ring, made at start: the RTSP senders and the uplink subscribe to it. */
const fanouts = new Map<string, AccessUnitFanout>();
let loops: Promise<unknown>[] = [];
let statsTimer: NodeJS.Timeout | undefined;
let retryTimer: NodeJS.Timeout | undefined;
let uplink: Uplink | undefined;
// A restarted net-send may find its previous incarnation's child still on the port for a moment.
const serveRetry = new Backoff({ minMs: 250, maxMs: 5000, jitter: 0.5 });

/** Drains the inputs net-send does not send yet (audio, vitals), keeping their cursors live. */
function drainOthers(ctx: WorkerContext): Promise<unknown> {
  const others: WorkerContext = Object.create(ctx, {
    rings: { value: (role: 'producer' | 'consumer', prefix = '') => ctx.rings(role, prefix).filter((r) => !r.startsWith('video.')) },
  });
  return drainInputs(others);
}

/**
 * Starts the RTSP server and the senders. Runs after the worker is ready: the server child
 * takes a second or more to listen, and a restarted net-send must not be held up by it (nor
 * fail when the previous incarnation's child still holds the port for a moment): a failed
 * start is retried with capped backoff and jitter.
 */
async function serve(ctx: WorkerContext): Promise<void> {
  if (!ctx.running) return;
  const r = ctx.config.rtsp;
  const server = ctx.boot.rtspServer;
  const o = new RtspOut({ host: r.host, port: r.port, rtpPortStart: r.rtpPortStart, rtpPortCount: r.rtpPortCount, log: ctx.log, server });
  out = o;
  try {
    await o.start();
  } catch (err) {
    // The supervisor's channel is closed with a failed RtspOut: nothing to retry on.
    if (server) { if (ctx.running) ctx.log.error({ err }, 'RTSP publisher did not attach to the RTSP server'); return; }
    const delay = serveRetry.next();
    ctx.log.warn({ err, retryMs: delay }, 'RTSP server did not start; retrying');
    retryTimer = setTimeout(() => void serve(ctx), delay);
    return;
  }
  if (!ctx.running) { await o.close(); return; }
  for (const ch of ctx.config.channels) {
    for (const role of ['hq', 'lq'] as const) {
      // Viewers of this stream stayed through our restart: the stall lasts until a keyframe.
      if (o.rtpState(ch.name, role)) ctx.send('video-encode', { type: 'keyframe', channel: ch.name, role, reason: 'net-send restarted' });
      const s = new StreamSender({
        channel: ch.name, role, out: o, clock: ctx.clock,
        fps: ch.source.fps, cname: `${ctx.config.box.id}/${ch.name}`, log: ctx.log,
      });
      senders.push(s);
      fanouts.get(`video.${ch.name}.${role}`)!.subscribe((au, key, wall, mono) => s.onAccessUnit(au, key, wall, mono));
    }
  }
  statsTimer = setInterval(() => ctx.emit({ type: 'net-stats', streams: senders.map((s) => s.stats()), uplink: uplink?.stats() ?? [] }), 2000);
}

runWorker({
  onMessage(msg) {
    // control made new keys for a receiver (a fresh SDP was fetched): its pairs start over with them.
    if (msg.type === 'uplink-rekeyed') return uplink?.restartReceiver(msg.receiver);
  },
  start(ctx) {
    // The readers start at once, so nothing piles up while the RTSP server starts; a sender
    // subscribing later starts at the live end (it needs a keyframe anyway).
    for (const ring of ctx.rings('consumer', 'video.')) {
      const f = new AccessUnitFanout(ring, ctx.consumer(ring), ctx.log);
      fanouts.set(ring, f);
      loops.push(f.run());
    }
    if (ctx.config.channels.length > 0) setImmediate(() => void serve(ctx));
    if (ctx.config.uplink.receivers.length > 0) {
      uplink = new Uplink({
        config: ctx.config, clock: ctx.clock, log: ctx.log, fanouts,
        requestKeyframe: (channel, role, reason) => ctx.send('video-encode', { type: 'keyframe', channel, role, reason }),
      });
      void uplink.start();
    }
    loops.push(drainOthers(ctx));
  },
  async stop() {
    clearTimeout(retryTimer);
    clearInterval(statsTimer);
    for (const f of fanouts.values()) f.stop();
    await uplink?.close();
    await Promise.all(senders.map((s) => s.stop()));
    await out?.close();
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 500))]);
    loops = [];
  },
});
