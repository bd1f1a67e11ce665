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
 *   audit {sinceSeq?, limit?}, auditVerify {head?}   the audit log's records; its chain checked
 *   recordings {channel?, limit?}                the latest segments and where each one's upload stands
 *   otaStatus                                    the OTA agent's slots, versions and last job (`orbox ota status`)
 *   vitals, cases, commandLog                    latest numerics + history, the catalog's cases, the router's log
 *   usersList, usersAdd {name, role, password?}, usersRemove {name}, usersPasswd {name, password?}
 *                                                the box's accounts (edge/access); a password left out is generated
 *                                                and answered once
 *   voiceSdp {peer}, voiceStart {sdp}, voiceStop, voiceMute {on}   the talk session (duplex-voice);
 *                                                the offer and the answer hold SRTP keys: local socket only
 *
 * Also hosts the web console (edge/web, when `web.enabled`): HTTPS and its `/api/*` call the
 * methods above, so the page goes through the same command router as the CLI and the fleet;
 * commands from it carry the origin `web:<account>`. Control hosts it (not net-send) because the
 * console is the command plane: sign-in, cases, stills, vitals and the catalog are all here.
 *
 * The audit log (edge/audit) is control's: every router command, and what the local API does
 * outside the router (stills, SDPs with keys, fault injection), is recorded, and each record's
 * (seq, hash) goes to the fleet as an `audit` event so the console holds the chain's head. A
 * record that cannot be written (disk full) is counted and logged; the action still runs (the
 * box keeps working through what it can survive) and the failure shows in status.
 *
 * With an `ota` section the control worker also runs the OTA agent (edge/ota): `otaJob` / `otaCancel`
 * through the router, the guard's verdict (health table) as the health input, a case recording as
 * the safe-moment input.
 */
import { mkdirSync } from 'node:fs';
import { AuditLog, auditPath, readAudit, verifyAudit, type AuditEntry } from '../audit/index.js';
import { LocalApi } from '../control/local-api.js';
import { startUploads } from '../control/uploads.js';
import { uplinkLive } from '../control/uplink-live.js';
import type { Uploader } from '../upload/index.js';
import { collectStatus } from '../control/status.js';
import { CommandRouter } from '../control/commands.js';
import { sampleTelemetry } from '../control/telemetry.js';
import { DevicePorts } from '../control/devices.js';
import type { FleetLink } from '../fleet/index.js';
import type { OtaAgent } from '../ota/index.js';
import { Recordings } from '../control/recordings.js';
import { FLEET_THUMBNAIL_MAX_BYTES, StillError, Stills, describeStill } from '../control/stills.js';
import { receiverSdp } from '../net/uplink/index.js';
import { utcStamp } from '../recording/index.js';
import type { RouterResult } from '../control/commands.js';
import type { CommandBody } from '../fleet/codec.js';
import { WORKER_NAMES, type WorkerName } from '../lib/health.js';
import { drainInputs, runWorker, type WorkerContext } from '../runtime/index.js';
import { join } from 'node:path';
import { rtspRealm } from '../config/index.js';
import { randomUUID } from 'node:crypto';
import { AccountStore, FailureThrottle, SessionStore, ensureFirstAdmin, randomPassword, type Role } from '../access/index.js';
import { decodeVitalSample } from '../devices/index.js';
import { VitalsView } from '../control/vitals.js';
import { caseMedia, caseVitals, segmentPath } from '../control/case-media.js';
import { CommandLog } from '../control/command-log.js';
import { WebConsole, loadOrMakeCert } from '../web/index.js';

let api: LocalApi | undefined;
let fleet: FleetLink | undefined;
let ota: OtaAgent | undefined;
let router: CommandRouter | undefined;
let telemetryTimer: NodeJS.Timeout | undefined;
let loops: Promise<unknown> | undefined;
let recordings: Recordings | undefined;
let stills: Stills | undefined;
let localCommands = 0;
const startedMs = Date.now() - Math.round(performance.now());
let devices: DevicePorts | undefined;
let accounts: AccountStore | undefined;
let sessions: SessionStore | undefined;
let web: WebConsole | undefined;
const vitals = new VitalsView();
/** WHEP offers sent to net-send, by session id, waiting for its `whep-answer` event. */
const whepWaiters = new Map<string, (e: { sdp?: unknown; error?: unknown }) => void>();
const commandLog = new CommandLog();

/** Every command through the router, logged with who sent it (the console's command log). */
async function runRouted(id: string, body: CommandBody, origin: string): Promise<RouterResult> {
  const done = commandLog.begin(id, body, origin);
  const r = await router!.run(id, body, origin);
  done(r);
  return r;
}
let audit: AuditLog | undefined;
let uploader: Uploader | undefined;
let auditFailures = 0;

/** Records an action; never throws (see the header). */
function record(ctx: WorkerContext, e: AuditEntry): void {
  if (!audit) return;
  try {
    const r = audit.append(e);
    try {
      fleet?.publishEvent('audit', `${r.actor} ${r.action}${r.target ? ` ${r.target}` : ''}: ${r.outcome}`, {
        fields: { seq: String(r.seq), hash: r.hash, actor: r.actor, from: r.from, action: r.action, target: r.target, outcome: r.outcome },
      });
    } catch { /* the fleet link not up yet: the record is on disk; the head goes with the next one */ }
  } catch (err) {
    if (auditFailures++ % 100 === 0) ctx.log.error({ err: (err as Error).message, failures: auditFailures }, 'audit record not written');
  }
}

/** A command from the local API, through the same router as the fleet's; refused -> thrown. */
async function runLocal(body: CommandBody, origin = 'local'): Promise<RouterResult> {
  const r = await runRouted(`${origin}-${process.pid}-${++localCommands}`, body, origin);
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
      ota: ota ? { enabled: true } : undefined,
      devices: devices?.status(),
      audit: audit ? { ...audit.head, failures: auditFailures } : undefined,
      upload: uploader?.status(),
      voice: voiceStatus,
    }),
    otaStatus: async () => {
      if (!ota) throw new Error('no OTA agent on this box (the ota section of the configuration)');
      return ota.status();
    },
    fault: (p: Record<string, unknown>) => {
      if (!ctx.config.debug.faultInjection) throw new Error('fault injection is off (debug.faultInjection in the configuration)');
      const worker = String(p.worker) as WorkerName;
      const mode = String(p.mode);
      if (!WORKER_NAMES.includes(worker)) throw new Error(`unknown worker "${worker}"; workers: ${WORKER_NAMES.join(', ')}`);
      if (!['exit', 'throw', 'hang'].includes(mode)) throw new Error(`unknown fault "${mode}"; faults: exit, throw, hang`);
      record(ctx, { actor: 'local', from: 'cli', action: 'debug.fault', target: `${worker} ${mode}`, outcome: 'finished' });
      ctx.send(worker, { type: 'fault', mode: mode as 'exit' | 'throw' | 'hang' });
      return { sent: true };
    },
    /** The latest (or, with fresh, the next) still of a channel; with save, kept and catalogued too. */
    snapshot: async (p: Record<string, unknown>, origin = 'local') => {
      const channel = str(p.channel);
      const waitMs = p.waitMs === undefined ? undefined : Number(p.waitMs);
      const opts = { fresh: p.fresh === true, waitMs: Number.isFinite(waitMs) ? waitMs : undefined };
      const audited = { actor: origin, from: fromOf(origin), action: p.save === true ? 'snapshot.save' : 'snapshot.view', target: channel };
      try {
        if (p.save === true) {
          const saved = await stills!.save(channel, { ...opts, requestedBy: origin });
          record(ctx, { ...audited, outcome: 'finished', detail: saved.record.path });
          return {
            ...describeStill(saved.still, ctx.clock.wallNs()), jpeg: saved.still.jpeg.toString('base64'),
            saved: { id: saved.record.id, path: saved.record.path, bytes: saved.record.bytes, case: saved.caseUid },
          };
        }
        const s = await stills!.get(channel, opts);
        // The console's tiles fetch a still every second: their viewing is the WHEP view and the sign-in.
        if (!origin.startsWith('web:')) record(ctx, { ...audited, outcome: 'finished' });
        return { ...describeStill(s, ctx.clock.wallNs()), jpeg: s.jpeg.toString('base64') };
      } catch (err) {
        record(ctx, { ...audited, outcome: 'failed', detail: (err as Error).message });
        throw err;
      }
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
    uplinkSdp: (p: Record<string, unknown>, origin = 'local') => {
      const receiver = str(p.receiver);
      const fresh = p.current !== true;
      try {
        const sdp = receiverSdp(ctx.config, receiver, fresh);
        if (fresh) ctx.send('net-send', { type: 'uplink-rekeyed', receiver });
        record(ctx, { actor: origin, from: fromOf(origin), action: 'uplink.sdp', target: receiver, outcome: 'finished', detail: fresh ? 'new session keys handed out' : 'current session keys handed out' });
        return { sdp, fresh };
      } catch (err) {
        record(ctx, { actor: origin, from: fromOf(origin), action: 'uplink.sdp', target: receiver, outcome: 'failed', detail: (err as Error).message });
        throw err;
      }
    },
    voiceSdp: (p: Record<string, unknown>) => audited(ctx, 'voice.offer', str(p.peer), () => askVoice('voice-offer', { peer: str(p.peer) })),
    voiceStart: (p: Record<string, unknown>) => audited(ctx, 'voice.start', '', () => askVoice('voice-start', { sdp: str(p.sdp) })),
    voiceStop: () => audited(ctx, 'voice.stop', '', () => askVoice('voice-stop', {})),
    voiceMute: (p: Record<string, unknown>) => audited(ctx, p.on !== false ? 'voice.mute' : 'voice.unmute', '', () => askVoice('voice-mute', { on: p.on !== false })),
    /** The latest segments (all channels or one), with where each one's upload stands. */
    recordings: (p: Record<string, unknown>) => {
      const upload = new Map((uploader?.rows() ?? []).map((r) => [r.path, r]));
      const segs = recordings!.segments(0n, ctx.clock.wallNs() + 1n, p.channel ? str(p.channel) : undefined);
      const limit = p.limit === undefined ? 50 : Number(p.limit);
      return {
        uploads: uploader ? 'on' : 'off',
        segments: segs.slice(-limit).map((s) => {
          const u = upload.get(s.path);
          return {
            channel: s.channel, path: s.path, state: s.state, startNs: String(s.startNs), endNs: s.endNs === null ? null : String(s.endNs), bytes: s.bytes,
            upload: u ? u.state : uploader ? (s.state === 'open' ? 'recording' : 'pending') : 'off', key: u?.key ?? null, uploadError: u?.lastError ?? null,
          };
        }),
      };
    },
    audit: (p: Record<string, unknown>) => ({
      records: readAudit(audit!.path, { sinceSeq: Number(p.sinceSeq ?? 0) || 0, limit: p.limit === undefined ? 200 : Number(p.limit) }),
      head: audit!.head,
    }),
    auditVerify: (p: Record<string, unknown>) => {
      const h = p.head as { seq?: unknown; hash?: unknown } | undefined;
      return verifyAudit(audit!.path, h ? { seq: Number(h.seq), hash: String(h.hash) } : undefined);
    },
    recordingStart: async (p: Record<string, unknown>, origin?: string) => {
      const r = await runLocal({ kind: 'recordingStart', caseId: str(p.caseId), channels: [] }, origin);
      return { message: r.message, caseId: r.details?.caseId };
    },
    recordingStop: async (p: Record<string, unknown>, origin?: string) => {
      const r = await runLocal({ kind: 'recordingStop', caseId: str(p.caseId) }, origin);
      return { message: r.message, caseId: r.details?.caseId };
    },
    vitals: () => vitals.snapshot(),
    /** The catalog's cases of the last 30 days, with their segment count. */
    cases: () => {
      const now = ctx.clock.wallNs();
      const cat = recordings!.catalog;
      return {
        cases: cat.listCases(now - 30n * 86_400n * 1_000_000_000n, now + 1n).map((c) => ({
          id: c.id, uid: c.uid, state: c.state, startNs: String(c.startNs), endNs: c.endNs === null ? null : String(c.endNs), segments: cat.segmentsOfCase(c.id).length,
        })),
      };
    },
    /** A recorded case's segments per channel (ids and times, no paths) for the console's player. */
    caseMedia: (p: Record<string, unknown>) => caseMedia(recordings!.catalog, Number(p.caseId)),
    /** The file of one of a case's closed segments (the console's remux; no route gives it to a browser). */
    segmentFile: (p: Record<string, unknown>) => ({ path: segmentPath(recordings!.catalog, Number(p.caseId), Number(p.segmentId)) }),
    caseVitals: (p: Record<string, unknown>) => caseVitals(ctx.config.box.dataDir, caseMedia(recordings!.catalog, Number(p.caseId)), ctx.clock.wallNs()),
    commandLog: () => ({ entries: commandLog.list() }),
    usersList: () => ({ accounts: accounts!.list() }),
    usersAdd: async (p: Record<string, unknown>) => {
      const password = p.password === undefined ? randomPassword() : str(p.password);
      const a = await audited(ctx, 'users.add', `${str(p.name)} ${str(p.role)}`, () => accounts!.add(str(p.name), str(p.role) as Role, password));
      return { account: a, password: p.password === undefined ? password : undefined };
    },
    usersRemove: async (p: Record<string, unknown>) => {
      await audited(ctx, 'users.remove', str(p.name), () => accounts!.remove(str(p.name)));
      sessions?.endAccount(str(p.name));
      return { removed: str(p.name) };
    },
    usersPasswd: async (p: Record<string, unknown>) => {
      const password = p.password === undefined ? randomPassword() : str(p.password);
      await audited(ctx, 'users.passwd', str(p.name), () => accounts!.setPassword(str(p.name), password));
      sessions?.endAccount(str(p.name));
      return { name: str(p.name), password: p.password === undefined ? password : undefined };
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

/** Where an origin comes from, for the audit log. */
const fromOf = (origin: string): string => (origin.startsWith('web:') ? 'web' : origin.startsWith('fleet:') ? 'fleet' : 'cli');

/** Runs a local action and records it, refused or not (the local API is the box's own socket). */
async function audited<T>(ctx: WorkerContext, action: string, target: string, f: () => T | Promise<T>): Promise<T> {
  try {
    const r = await f();
    record(ctx, { actor: 'local', from: 'cli', action, target, outcome: 'finished' });
    return r;
  } catch (err) {
    record(ctx, { actor: 'local', from: 'cli', action, target, outcome: 'refused', detail: (err as Error).message });
    throw err;
  }
}

/** Methods the web console may call (by route, edge/web/server.ts ROUTES); the rest stay local. */
const WEB_METHODS = ['status', 'vitals', 'cases', 'caseMedia', 'segmentFile', 'caseVitals', 'snapshot', 'recordingStart', 'recordingStop', 'commandLog', 'usersList', 'uplinkSdp'] as const;

async function startWeb(ctx: WorkerContext, table: ReturnType<typeof methods>): Promise<void> {
  const cfg = ctx.config.web;
  if (!cfg.enabled) return;
  const first = await ensureFirstAdmin(accounts!, cfg.firstAdmin.name, cfg.firstAdmin.password);
  // Shown once, on the box's console (not in the log): the only place this password exists in clear.
  if (first?.generated) process.stderr.write(`orbox: first admin account "${first.name}" made with password ${first.password} (shown once; change it with \`orbox users passwd ${first.name}\`)\n`);
  sessions = new SessionStore({ idleMs: cfg.sessionIdleMin * 60_000, maxMs: cfg.sessionMaxMin * 60_000 });
  const tls = loadOrMakeCert({ certFile: cfg.certFile, keyFile: cfg.keyFile, dir: join(ctx.config.box.dataDir, 'web'), commonName: ctx.config.box.id, hosts: [...new Set([cfg.host, '127.0.0.1', 'localhost'])] });
  web = new WebConsole({
    host: cfg.host, port: cfg.port, tls, accounts: accounts!, sessions, throttle: new FailureThrottle(), box: ctx.config.box, log: ctx.log,
    audit: (e) => record(ctx, e),
    whep: {
      // net-send hosts the peer (one-way media, it reads the encoded rings); control checked the token.
      offer: (channel, role, sdp, caller) => new Promise((resolve, reject) => {
        record(ctx, { actor: `web:${caller.account}`, from: 'web', action: 'stream.view', target: `${channel}/${role}`, outcome: 'finished', detail: 'WHEP' });
        if (!ctx.config.channels.some((c) => c.name === channel)) return reject(new Error(`unknown channel "${channel}"`));
        const id = randomUUID();
        const timer = setTimeout(() => { whepWaiters.delete(id); reject(new Error('net-send did not answer the WHEP offer within 10 s')); }, 10_000);
        whepWaiters.set(id, (e) => { clearTimeout(timer); if (e.error) reject(new Error(String(e.error))); else resolve({ id, sdp: String(e.sdp) }); });
        ctx.send('net-send', { type: 'whep-offer', id, channel, role, sdp });
      }),
      close: (id) => ctx.send('net-send', { type: 'whep-close', id }),
    },
    backend: {
      call: async (method, params, caller) => {
        if (!(WEB_METHODS as readonly string[]).includes(method)) throw new Error(`method ${method} is not open to the web console`);
        const m = table[method as (typeof WEB_METHODS)[number]] as (p: Record<string, unknown>, origin?: string) => unknown;
        return m(params, `web:${caller.account}`);
      },
    },
  });
  const port = await web.start();
  ctx.log.info({ url: `https://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}/`, selfSigned: tls.selfSigned }, 'web console listening');
}

async function startFleet(ctx: WorkerContext): Promise<void> {
  const cfg = ctx.config.fleet;
  if (!cfg) return;
  mkdirSync(cfg.queueDir, { recursive: true });
  const { FleetLink, standardMetrics } = await import('../fleet/index.js'); // only boxes on a fleet pay for MQTT
  const rings = ctx.boot.observe ?? [];
  fleet = new FleetLink(cfg, {
    onCommand: async (cmd) => runRouted(cmd.commandId, cmd.body, `fleet:${cmd.issuer || 'console'}`),
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
    const up = uploader?.status(); // one journal count per tick, not one per metric
    fleet!.setMetrics({
      ...sampleTelemetry(ctx.health, rings, devices!.status(), ctx.config.box.dataDir),
      'recording/state': current ? 'recording' : 'idle',
      'recording/case_id': current?.uid ?? '',
      'upload/backlog': up?.queued ?? 0,
      'upload/alarm': up?.alarm ?? '',
      // Per channel: '' while it records, else why not ("recording stopped: disk full on ...").
      ...Object.fromEntries(Object.entries(recordings?.status().recording ?? {}).map(([ch, r]) => [`recording/${ch}/stopped`, r.reason ?? ''])),
    });
    fleet!.publishTelemetry();
  }, 1000);
}

/**
 * The OTA agent (edge/ota) when configured: jobs through the router (fleet or local), reports
 * as `ota.job` events on the fleet link. Safe moments: a case recording is known here; talk
 * sessions and uplinks are not yet reported to control, so only recording holds an install.
 */
async function startOta(ctx: WorkerContext): Promise<void> {
  const cfg = ctx.config.ota;
  if (!cfg) return;
  const { OtaAgent, RaucClient, fleetReporter, handleOtaCommand } = await import('../ota/index.js');
  const { execFile } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const report = fleet ? fleetReporter(fleet) : undefined;
  const agent = new OtaAgent({
    dir: cfg.dir ?? join(ctx.config.box.dataDir, 'ota'), firmwareVersion: cfg.firmwareVersion, healthWindowMs: cfg.healthWindowMs,
    healthTimeoutMs: cfg.healthTimeoutMs, maxBundleBytes: cfg.maxBundleBytes, httpsCa: cfg.httpsCa ? readFileSync(cfg.httpsCa) : undefined,
  }, {
    connectRauc: () => RaucClient.connect(cfg.bus),
    health: () => (ctx.health.healthy ? 'healthy' : 'unhealthy'),
    busy: () => ({
      recording: Boolean(recordings?.currentCase),
      talk: (voiceStatus as { state?: string } | undefined)?.state === 'talking',
      uplink: recordings ? uplinkLive(recordings) : false,
    }),
    reboot: () => new Promise<void>((resolve, reject) => execFile(cfg.rebootCommand[0]!, cfg.rebootCommand.slice(1), (err) => (err ? reject(err) : resolve()))),
    report: (r) => {
      ctx.log.info({ ...r }, 'OTA job');
      try { report?.(r); } catch (err) { ctx.log.warn({ err: (err as Error).message }, 'OTA report not queued'); }
    },
    log: ctx.log,
  });
  router!.handle('otaJob', async (body) => handleOtaCommand(agent, body)!);
  router!.handle('otaCancel', async (body) => handleOtaCommand(agent, body)!);
  ota = agent;
  // RAUC may start after us: the agent's start is retried in the background, the box runs meanwhile.
  void (async () => {
    for (let i = 0; ota === agent; i++) {
      try { await agent.start(); return; } catch (err) {
        if (i === 0) ctx.log.warn({ err: (err as Error).message }, 'OTA agent waits for RAUC');
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** i)));
      }
    }
  })();
}

runWorker({
  async start(ctx) {
    audit = new AuditLog(auditPath(ctx.config.box.dataDir));
    try {
      audit.open();
    } catch (err) {
      ctx.log.error({ err: (err as Error).message }, 'audit log not opened: actions run unrecorded');
      audit = undefined;
    }
    router = new CommandRouter(ctx, (e) => record(ctx, e));
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
    // HA1s for the RTSP realm are kept whether or not RTSP auth is on, so turning it on later
    // works for every password set since (edge/access/accounts.ts).
    accounts = new AccountStore({ path: join(ctx.config.box.dataDir, 'access', 'accounts.json'), digestRealms: [rtspRealm(ctx.config)] }).open();
    const table = methods(ctx);
    api = new LocalApi(ctx.config.api.socket, table);
    await api.listen();
    await startWeb(ctx, table);
    await startFleet(ctx);
    uploader = startUploads(ctx, rec, (e) => record(ctx, e));
    await startOta(ctx);
    record(ctx, { actor: 'box', from: 'box', action: 'control.started', target: ctx.config.box.id, outcome: 'finished' });
    loops = drainInputs(ctx, {
      vitals: (payload) => { try { vitals.onSample(decodeVitalSample(payload)); } catch (err) { ctx.log.debug({ err: String(err) }, 'vitals record not decoded'); } },
      'snap.': (payload, meta, ring) => { if (meta && ring) stills?.onRecord(ring.slice('snap.'.length), payload, meta); },
    });
  },
  async stop(deadlineMs) {
    clearInterval(telemetryTimer);
    const agent = ota;
    ota = undefined;
    await agent?.close();
    stills?.close();
    await uploader?.close();
    await recordings?.stop(Math.max(0, deadlineMs - 300));
    await fleet?.close();
    await web?.close();
    await api?.close();
    await loops;
    audit?.close();
  },
  onMessage(msg) {
    if (msg.type !== 'event') return;
    recordings?.onEvent(msg.event);
    if ((msg.event as { type?: string }).type === 'segment-closed') uploader?.poke();
    stills?.onEvent(msg.event);
    const e = msg.event as { type: string; event?: { type?: string; port?: string; state?: string } };
    if (e.type === 'whep-answer') {
      const w = whepWaiters.get(String((msg.event as { id?: unknown }).id));
      if (w) { whepWaiters.delete(String((msg.event as { id?: unknown }).id)); w(msg.event as never); }
      return;
    }
    if (router?.onEvent(e as never)) return;
    if (e.type === 'voice-status') { voiceStatus = (e as { status?: unknown }).status; return; }
    if (e.type === 'device' && e.event) devices?.onEvent(e.event);
  },
});
