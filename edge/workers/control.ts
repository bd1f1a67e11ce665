/**
 * control worker: the box's command plane. Owns the local API socket (status, debug
 * commands, stills, channel settings, cases), the events of all workers (its inbox), the fleet
 * link when one is configured (birth/death, telemetry by exception, commands with
 * acknowledgements; the box runs fully without it), and the command router that carries
 * commands to the workers. Reads the vitals ring and every channel's `snap.<channel>` (the
 * latest still of each channel, edge/control/stills.ts).
 *
 * Local API methods (edge/control/local-api.ts; the CLI's commands in edge/cli/main.ts):
 *   status, fault {worker, mode}
 *   snapshot {channel, fresh?, save?, waitMs?}   the latest (or next) still, as base64 JPEG;
 *                                                with save, also kept and catalogued
 *   channelSettings {channel, hqBitrateKbps?, lqBitrateKbps?}   same path as the fleet's
 *   recordingStart {caseId?}, recordingStop {caseId?}           same path as the fleet's
 *   uplinkSdp {receiver, current?}               an uplink receiver's SDP, keys included (a new session
 *                                                with new keys, unless current)
 *   voiceSdp {peer}, voiceStart {sdp}, voiceStop, voiceMute {on}   the talk session (duplex-voice);
 *                                                the offer and the answer hold SRTP keys: local socket only
 */
import { mkdirSync } from 'node:fs';
import { LocalApi } from '../control/local-api.js';
import { collectStatus } from '../control/status.js';
import { CommandRouter } from '../control/commands.js';
import { sampleTelemetry } from '../control/telemetry.js';
import { DevicePorts } from '../control/devices.js';
import type { FleetLink } from '../fleet/index.js';
import { Recordings } from '../control/recordings.js';
import { FLEET_THUMBNAIL_MAX_BYTES, StillError, Stills, describeStill } from '../control/stills.js';
import { receiverSdp } from '../net/uplink/index.js';
import { utcStamp } from '../recording/index.js';
import type { RouterResult } from '../control/commands.js';
import type { CommandBody } from '../fleet/codec.js';
import { WORKER_NAMES, type WorkerName } from '../lib/health.js';
import { drainInputs, runWorker, type WorkerContext } from '../runtime/index.js';

let api: LocalApi | undefined;
let fleet: FleetLink | undefined;
let router: CommandRouter | undefined;
let telemetryTimer: NodeJS.Timeout | undefined;
let loops: Promise<unknown> | undefined;
let recordings: Recordings | undefined;
let stills: Stills | undefined;
let localCommands = 0;
const startedMs = Date.now() - Math.round(performance.now());
let devices: DevicePorts | undefined;

/** A command from the local API, through the same router as the fleet's; refused -> thrown. */
async function runLocal(body: CommandBody): Promise<RouterResult> {
  const r = await router!.run(`local-${process.pid}-${++localCommands}`, body);
  if (r.state !== 'finished') throw new Error(r.message || r.state);
  return r;
}

/** A talk-session command to duplex-voice; refused -> thrown with duplex-voice's words. */
async function askVoice(name: string, args: Record<string, unknown>): Promise<{ message: string; sdp?: string }> {
  const r = await router!.ask(`local-${process.pid}-${++localCommands}`, 'duplex-voice', name, args);
  if (r.state !== 'finished') throw new Error(r.message || r.state);
  return { message: r.message ?? '', ...(r.details?.sdp ? { sdp: r.details.sdp } : {}) };
}

/** duplex-voice's latest `voice-status` (edge/audio/voice/service.ts VoiceStatus). */
let voiceStatus: unknown;

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

function methods(ctx: WorkerContext) {
  return {
    status: () => ({
      ...collectStatus({ id: ctx.config.box.id, room: ctx.config.box.room, startedMs }, ctx.health, ctx.boot.observe ?? [], ctx.boot.cpuLatency),
      video: recordings ? { ...recordings.status(), stills: stills?.status() } : undefined,
      fleet: fleet ? { state: fleet.state } : undefined,
      devices: devices?.status(),
      voice: voiceStatus,
    }),
    fault: (p: Record<string, unknown>) => {
      if (!ctx.config.debug.faultInjection) throw new Error('fault injection is off (debug.faultInjection in the configuration)');
      const worker = String(p.worker) as WorkerName;
      const mode = String(p.mode);
      if (!WORKER_NAMES.includes(worker)) throw new Error(`unknown worker "${worker}"; workers: ${WORKER_NAMES.join(', ')}`);
      if (!['exit', 'throw', 'hang'].includes(mode)) throw new Error(`unknown fault "${mode}"; faults: exit, throw, hang`);
      ctx.send(worker, { type: 'fault', mode: mode as 'exit' | 'throw' | 'hang' });
      return { sent: true };
    },
    /** The latest (or, with fresh, the next) still of a channel; with save, kept and catalogued too. */
    snapshot: async (p: Record<string, unknown>) => {
      const channel = str(p.channel);
      const waitMs = p.waitMs === undefined ? undefined : Number(p.waitMs);
      const opts = { fresh: p.fresh === true, waitMs: Number.isFinite(waitMs) ? waitMs : undefined };
      if (p.save === true) {
        const saved = await stills!.save(channel, { ...opts, requestedBy: 'local' });
        return {
          ...describeStill(saved.still, ctx.clock.wallNs()), jpeg: saved.still.jpeg.toString('base64'),
          saved: { id: saved.record.id, path: saved.record.path, bytes: saved.record.bytes, case: saved.caseUid },
        };
      }
      const s = await stills!.get(channel, opts);
      return { ...describeStill(s, ctx.clock.wallNs()), jpeg: s.jpeg.toString('base64') };
    },
    channelSettings: async (p: Record<string, unknown>) => {
      const settings: Record<string, string> = {};
      for (const k of ['hqBitrateKbps', 'lqBitrateKbps']) if (p[k] !== undefined) settings[k] = str(p[k]);
      const r = await runLocal({ kind: 'channelSettings', channel: str(p.channel), settings });
      return { message: r.message, details: r.details ?? {} };
    },
    /**
     * The SDP of an uplink receiver, keys included (the local socket is the box's own, 0660). A
     * new session unless `current`: new keys, and net-send restarts the receiver's pairs with them.
     */
    uplinkSdp: (p: Record<string, unknown>) => {
      const receiver = str(p.receiver);
      const fresh = p.current !== true;
      const sdp = receiverSdp(ctx.config, receiver, fresh);
      if (fresh) ctx.send('net-send', { type: 'uplink-rekeyed', receiver });
      return { sdp, fresh };
    },
    voiceSdp: (p: Record<string, unknown>) => askVoice('voice-offer', { peer: str(p.peer) }),
    voiceStart: (p: Record<string, unknown>) => askVoice('voice-start', { sdp: str(p.sdp) }),
    voiceStop: () => askVoice('voice-stop', {}),
    voiceMute: (p: Record<string, unknown>) => askVoice('voice-mute', { on: p.on !== false }),
    recordingStart: async (p: Record<string, unknown>) => {
      const r = await runLocal({ kind: 'recordingStart', caseId: str(p.caseId), channels: [] });
      return { message: r.message, caseId: r.details?.caseId };
    },
    recordingStop: async (p: Record<string, unknown>) => {
      const r = await runLocal({ kind: 'recordingStop', caseId: str(p.caseId) });
      return { message: r.message, caseId: r.details?.caseId };
    },
  };
}

/**
 * The `snapshot` command (the fleet's): without save, a thumbnail of the latest still in the
 * result (bounded by FLEET_THUMBNAIL_MAX_BYTES, see stills.ts); with save, the full still kept
 * on the box. Waits are bounded by stills.ts (at most 60 s), inside the fleet's 70 s command
 * timeout. (The local API's `snapshot` method answers with the full still instead.)
 */
async function commandSnapshot(ctx: WorkerContext, body: Extract<CommandBody, { kind: 'snapshot' }>, origin: string): Promise<RouterResult> {
  const s = stills!;
  const opts = { fresh: body.fresh };
  try {
    if (body.save) {
      const saved = await s.save(body.channel, { ...opts, requestedBy: origin });
      const d = describeStill(saved.still, ctx.clock.wallNs());
      return {
        state: 'finished',
        message: `channel "${body.channel}": still ${d.width}x${d.height} of ${d.capturedAt} saved to ${saved.record.path}${saved.caseUid ? ` (case "${saved.caseUid}")` : ' (no case recording)'}`,
        details: { channel: d.channel, captureNs: d.captureNs, capturedAt: d.capturedAt, width: String(d.width), height: String(d.height), bytes: String(d.bytes), path: saved.record.path, stillId: String(saved.record.id), case: saved.caseUid ?? '' },
      };
    }
    const thumb = await s.get(body.channel, { ...opts, kind: 'thumbnail' });
    if (thumb.jpeg.length > FLEET_THUMBNAIL_MAX_BYTES) {
      return { state: 'failed', message: `channel "${body.channel}": thumbnail of ${thumb.jpeg.length} bytes exceeds the fleet result limit of ${FLEET_THUMBNAIL_MAX_BYTES} bytes; save it on the box instead (save=true)` };
    }
    const d = describeStill(thumb, ctx.clock.wallNs());
    return {
      state: 'finished',
      message: `channel "${body.channel}": thumbnail ${d.width}x${d.height} of the frame captured ${d.capturedAt} (${d.ageMs} ms ago)`,
      details: { channel: d.channel, image: 'thumbnail', captureNs: d.captureNs, capturedAt: d.capturedAt, width: String(d.width), height: String(d.height), bytes: String(d.bytes), jpeg: thumb.jpeg.toString('base64') },
    };
  } catch (err) {
    // Unknown channel / stills off are the sender's mistake; nothing in time or a failed write is the box's.
    const invalid = err instanceof StillError && (err.reason === 'unknown-channel' || err.reason === 'stills-off');
    return { state: invalid ? 'invalid' : 'failed', message: (err as Error).message };
  }
}

async function startFleet(ctx: WorkerContext): Promise<void> {
  const cfg = ctx.config.fleet;
  if (!cfg) return;
  mkdirSync(cfg.queueDir, { recursive: true });
  const { FleetLink, standardMetrics } = await import('../fleet/index.js'); // only boxes on a fleet pay for MQTT
  const rings = ctx.boot.observe ?? [];
  fleet = new FleetLink(cfg, {
    onCommand: async (cmd) => router!.run(cmd.commandId, cmd.body, `fleet:${cmd.issuer || 'console'}`),
  }, {
    clock: ctx.clock,
    log: ctx.log,
    metrics: standardMetrics({
      workers: [...WORKER_NAMES],
      rings: rings.map((r) => r.spec.name),
      channels: ctx.config.channels.map((c) => c.name),
      devices: ctx.config.devices.ports.map((p) => p.name),
    }),
  });
  fleet.on('commandRejected', (r) => ctx.log.warn({ reason: r }, 'fleet command rejected'));
  await fleet.start();
  telemetryTimer = setInterval(() => {
    const current = recordings?.currentCase;
    fleet!.setMetrics({
      ...sampleTelemetry(ctx.health, rings, devices!.status(), ctx.config.box.dataDir),
      'recording/state': current ? 'recording' : 'idle',
      'recording/case_id': current?.uid ?? '',
    });
    fleet!.publishTelemetry();
  }, 1000);
}

runWorker({
  async start(ctx) {
    router = new CommandRouter(ctx);
    devices = new DevicePorts(ctx.config.devices.ports);
    recordings = new Recordings({ dataDir: ctx.config.box.dataDir, log: ctx.log });
    recordings.start();
    const rec = recordings;
    stills = new Stills({ channels: ctx.config.channels, root: rec.root, clock: ctx.clock, log: ctx.log, catalog: (s) => rec.catalogStill(s) });
    router.handle('recordingStart', async (body) => {
      const unknown = body.channels.filter((c) => !ctx.config.channels.some((x) => x.name === c));
      if (unknown.length) return { state: 'invalid', message: `unknown channels: ${unknown.join(', ')}` };
      try {
        // No case id given: the box names the case by its start time (readable in the catalog).
        const now = ctx.clock.wallNs();
        const c = rec.startCase(body.caseId || `case-${utcStamp(now)}`, now);
        return { state: 'finished', message: `case "${c.uid}" recording`, details: { caseId: c.uid } };
      } catch (err) {
        return { state: 'invalid', message: (err as Error).message };
      }
    });
    router.handle('snapshot', (body, _id, origin) => commandSnapshot(ctx, body, origin));
    router.handle('recordingStop', async (body) => {
      try {
        // No case id given: the case being recorded.
        const c = rec.endCase(body.caseId || rec.currentCase?.uid || '', ctx.clock.wallNs());
        return { state: 'finished', message: `case "${c.uid}" ended`, details: { caseId: c.uid } };
      } catch (err) {
        return { state: 'invalid', message: (err as Error).message };
      }
    });
    api = new LocalApi(ctx.config.api.socket, methods(ctx));
    await api.listen();
    await startFleet(ctx);
    loops = drainInputs(ctx, {
      'snap.': (payload, meta, ring) => { if (meta && ring) stills?.onRecord(ring.slice('snap.'.length), payload, meta); },
    });
  },
  async stop(deadlineMs) {
    clearInterval(telemetryTimer);
    stills?.close();
    await recordings?.stop(Math.max(0, deadlineMs - 300));
    await fleet?.close();
    await api?.close();
    await loops;
  },
  onMessage(msg) {
    if (msg.type !== 'event') return;
    recordings?.onEvent(msg.event);
    stills?.onEvent(msg.event);
    const e = msg.event as { type: string; event?: { type?: string; port?: string; state?: string } };
    if (router?.onEvent(e as never)) return;
    if (e.type === 'voice-status') { voiceStatus = (e as { status?: unknown }).status; return; }
    if (e.type === 'device' && e.event) devices?.onEvent(e.event);
  },
});
