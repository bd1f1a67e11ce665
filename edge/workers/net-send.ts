/**
 * net-send worker: everything that leaves over the network. Today: every channel's hq and lq
 * stream served over RTSP at `rtsp://<box>:<rtsp.port>/<channel>/hq|lq` (RtspOut: the RTSP
 * server in a guarded child process; StreamSender: ring -> RFC 6184 packets + RTCP SR).
 * WHEP playback sessions (edge/web/whep.ts) for the web console: control checks the viewer's
 * bearer token and sends the offer (`whep-offer`), net-send answers with a `whep-answer` event
 * and feeds the session from the stream's fanout (one-way media, like RTSP).
 * Consumes: video.*, and audio.* (Opus) for the mounts of channels with audio (a second stream
 * on each mount); vitals are drained until their sender lands.
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
import type { WhepSession } from '../web/whep.js';
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
let ctxRef: WorkerContext | undefined;
/** WHEP playback sessions (edge/web/whep.ts): one-way video to a browser, so net-send's. */
const wheps = new Map<string, { session: WhepSession; unsubscribe: () => void }>();
/** At most this many WHEP viewers at once (until the viewer bench of #18 says how many a box sustains). */
const MAX_WHEP = 32;
// The WebRTC stack (werift, ~200 ms to load here) is loaded at the first WHEP offer: a
// restarted net-send is a stall for every RTSP viewer, and the standby does not preload it.
let whepModule: Promise<typeof import('../web/whep.js')> | undefined;

async function whepOffer(ctx: WorkerContext, m: { id: string; channel: string; role: 'hq' | 'lq'; sdp: string }): Promise<void> {
  const fanout = fanouts.get(`video.${m.channel}.${m.role}`);
  try {
    if (!fanout) throw new Error(`no stream ${m.channel}/${m.role}`);
    if (wheps.size >= MAX_WHEP) throw new Error(`already ${MAX_WHEP} WHEP viewers`);
    const { WhepSession } = await (whepModule ??= import('../web/whep.js'));
    const session = new WhepSession({ id: m.id, hostAddresses: ['127.0.0.1'] });
    const sdp = await session.create(m.sdp);
    let asked = false;
    const unsubscribe = fanout.subscribe((au, key, wall) => {
      if (session.connected && !asked) { asked = true; ctx.send('video-encode', { type: 'keyframe', channel: m.channel, role: m.role, reason: 'whep viewer' }); }
      session.writeAccessUnit(au, wall, key);
    });
    wheps.set(m.id, { session, unsubscribe });
    ctx.emit({ type: 'whep-answer', id: m.id, sdp });
  } catch (err) {
    ctx.emit({ type: 'whep-answer', id: m.id, error: (err as Error).message });
  }
}

function whepClose(id: string): void {
  const w = wheps.get(id);
  if (!w) return;
  wheps.delete(id);
  w.unsubscribe();
  void w.session.close();
}
// A restarted net-send may find its previous incarnation's child still on the port for a moment.
const serveRetry = new Backoff({ minMs: 250, maxMs: 5000, jitter: 0.5 });

/** Drains the inputs net-send does not send yet (vitals), keeping their cursors live. */
function drainOthers(ctx: WorkerContext): Promise<unknown> {
  const others: WorkerContext = Object.create(ctx, {
    rings: { value: (role: 'producer' | 'consumer', prefix = '') => ctx.rings(role, prefix).filter((r) => !r.startsWith('video.') && !r.startsWith('audio.')) },
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
      const input = ch.audio ? ctx.config.audio.inputs.find((a) => a.name === ch.audio) : undefined;
      const s = new StreamSender({
        channel: ch.name, role, out: o, clock: ctx.clock,
        fps: ch.source.fps, cname: `${ctx.config.box.id}/${ch.name}`, log: ctx.log,
        ...(input ? { audio: { channels: input.channels as 1 | 2 } } : {}),
      });
      senders.push(s);
      fanouts.get(`video.${ch.name}.${role}`)!.subscribe((au, key, wall, mono) => s.onAccessUnit(au, key, wall, mono));
      if (input) fanouts.get(`audio.${input.name}`)?.subscribe((frame, _key, wall) => s.onOpusFrame(frame, wall));
    }
  }
  statsTimer = setInterval(() => ctx.emit({ type: 'net-stats', streams: senders.map((s) => s.stats()), uplink: uplink?.stats() ?? [] }), 2000);
}

runWorker({
  onMessage(msg) {
    // control made new keys for a receiver (a fresh SDP was fetched): its pairs start over with them.
    if (msg.type === 'uplink-rekeyed') return uplink?.restartReceiver(msg.receiver);
    if (msg.type === 'whep-offer' && ctxRef) return void whepOffer(ctxRef, msg);
    if (msg.type === 'whep-close') return whepClose(msg.id);
  },
  start(ctx) {
    ctxRef = ctx;
    // The readers start at once, so nothing piles up while the RTSP server starts; a sender
    // subscribing later starts at the live end (it needs a keyframe anyway).
    for (const ring of [...ctx.rings('consumer', 'video.'), ...ctx.rings('consumer', 'audio.')]) {
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
    for (const id of [...wheps.keys()]) whepClose(id);
    await uplink?.close();
    await Promise.all(senders.map((s) => s.stop()));
    await out?.close();
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 500))]);
    loops = [];
  },
});
