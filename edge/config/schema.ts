/**
 * The box configuration: one file (YAML or JSON), validated in full before anything starts.
 *
 * Owns: the schema (zod) and the shape every worker receives. Sections that belong to a
 * part of the firmware (devices, fleet) are defined next to that part and embedded here.
 * Errors: ConfigError lists every problem as `<key path>: <what was expected>, found <value>`.
 */
import { z } from 'zod';
import { VOICE_DEFAULTS, VoiceConfigSchema } from './voice.js';
import { DevicesConfigSchema } from '../devices/config.js';
import { FleetLinkConfigSchema } from '../fleet/config.js';
import { OtaConfigSchema } from './ota.js';
import { UPLINK_PORT_BLOCK, UplinkConfigSchema } from './uplink.js';
import { REALM, ROLES } from '../access/index.js';

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a lower-case name of letters, digits, - or _ (at most 32)');

const videoSource = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('test-pattern'),
    /** videotestsrc pattern nick, e.g. smpte, ball, snow. */
    pattern: z.string().default('smpte'),
    width: z.number().int().min(16).max(7680),
    height: z.number().int().min(16).max(4320),
    fps: z.number().int().min(1).max(120),
  }).strict(),
  z.object({
    type: z.literal('v4l2'),
    device: z.string().startsWith('/dev/'),
    width: z.number().int().min(16).max(7680),
    height: z.number().int().min(16).max(4320),
    fps: z.number().int().min(1).max(120),
  }).strict(),
  z.object({
    type: z.literal('gst'),
    /** A GStreamer source description ending in raw video, for labs and any device GStreamer supports. */
    description: z.string().min(1),
    width: z.number().int().min(16).max(7680),
    height: z.number().int().min(16).max(4320),
    fps: z.number().int().min(1).max(120),
  }).strict(),
  z.object({
    /** An IP camera's H.264 over RTSP, passed through to the channel's hq ring without
     *  re-encoding (edge/video/rtsp-ingest.ts). */
    type: z.literal('rtsp'),
    /** rtsp://host[:port]/path; never user:password@ (credentials go in credentialsFile). */
    url: z.string().regex(/^rtsp:\/\/[^\s@/"]+(\/[^\s"]*)?$/, 'rtsp://host[:port]/path with no spaces, quotes or user:password@ (credentials go in credentialsFile)'),
    transport: z.enum(['tcp', 'udp']).default('tcp'),
    /** Also decode the camera's H.264 (the hq stays the camera's own) into raw frames for the
     *  channel's lq stream and JPEG stills, as a captured channel has (edge/video/rtsp-ingest.ts).
     *  Off: the channel has hq only. */
    decode: z.boolean().default(false),
    /** A file whose first line is `user:password`; read at each connection, never logged. */
    credentialsFile: z.string().startsWith('/').optional(),
    /** What the camera sends (nominal): sizes the rings and the status; the stream is not scaled. */
    width: z.number().int().min(16).max(7680),
    height: z.number().int().min(16).max(4320),
    fps: z.number().int().min(1).max(120),
  }).strict(),
  z.object({
    /** An ONVIF camera (Profile S): its RTSP URI resolved from the device at start and after
     *  each failure, then passed through as an `rtsp` source (edge/video/rtsp-ingest.ts). */
    type: z.literal('onvif'),
    /** The device service, http://host[:port]/onvif/device_service (no user:password@). */
    device: z.string().regex(/^http:\/\/[^\s@/"]+(\/[^\s"]*)?$/, 'http://host[:port]/path of the device service, with no user:password@ (credentials go in credentialsFile)'),
    /** Media profile token; default the first H.264 profile. */
    profile: z.string().min(1).max(64).optional(),
    transport: z.enum(['tcp', 'udp']).default('tcp'),
    /** Also decode the camera's H.264 (the hq stays the camera's own) into raw frames for the
     *  channel's lq stream and JPEG stills, as a captured channel has (edge/video/rtsp-ingest.ts).
     *  Off: the channel has hq only. */
    decode: z.boolean().default(false),
    /** `user:password` on the first line: for ONVIF (digest) and RTSP alike. */
    credentialsFile: z.string().startsWith('/').optional(),
    width: z.number().int().min(16).max(7680),
    height: z.number().int().min(16).max(4320),
    fps: z.number().int().min(1).max(120),
  }).strict(),
]);

const stream = z.object({
  width: z.number().int().min(16).max(7680),
  height: z.number().int().min(16).max(4320),
  bitrateKbps: z.number().int().min(64).max(100_000),
  /** Keyframe interval in frames. */
  gop: z.number().int().min(1).max(600),
}).strict();

/**
 * JPEG stills of a channel (edge/video/snapshot.ts): on by default, every `intervalS` seconds
 * (default: the board profile's interval), `width` px wide (default: the source's width) at
 * the source's aspect ratio. Checked against the source in checkSnapshots below.
 */
const snapshot = z.object({
  enabled: z.boolean().default(true),
  intervalS: z.number().int().min(1).max(3600).optional(),
  width: z.number().int().min(16).max(7680).refine((w) => w % 2 === 0, 'must be even (4:2:0 chroma)').optional(),
}).strict();

const channel = z.object({
  name,
  source: videoSource,
  hq: stream,
  lq: stream,
  record: z.boolean().default(true),
  snapshot: snapshot.default({ enabled: true }),
  /**
   * The channel's audio: the name of one of `audio.inputs`. Its RTSP mounts get an Opus track
   * next to the video, its recorded segments an AAC-LC track, and the uplink carries it
   * (edge/audio/README.md). Several channels may share one input.
   */
  audio: name.optional(),
}).strict();

const audioInput = z.object({
  name,
  /** `test-tone` (the demo), `alsa:<card id>`, `alsa-path:<by-path name>` or `gst:<description>` (edge/audio/source.ts). */
  device: z.string().regex(/^(test-tone|alsa:[A-Za-z0-9_-]{1,32}|alsa-path:[A-Za-z0-9_.:-]{1,128}|gst:.*\S.*)$/, 'test-tone, alsa:<card id>, alsa-path:<by-path name> or gst:<description>'),
  rate: z.number().int().refine((r) => [8000, 16000, 24000, 48000].includes(r), 'one of 8000, 16000, 24000, 48000').default(48000),
  channels: z.number().int().min(1).max(2).default(1),
}).strict();

const configSchemaBase = z.object({
  box: z.object({
    /** Immutable identity (serial), not the room name. */
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, - or _ (1 to 64)'),
    room: z.string().max(64).default(''),
    /** Where recordings, the catalog and queues live. */
    dataDir: z.string().min(1),
  }).strict(),
  api: z.object({
    /**
     * Unix socket of the local API that `orbox status` talks to. Default: the machine's fixed
     * place (edge/config/runtime-dir.ts); a relative path is taken from the configuration
     * file's folder.
     */
    socket: z.string().min(1).optional(),
  }).strict().default({}),
  /** At most MAX_CHANNELS (checked in checkChannelCount, which says how many there are). */
  channels: z.array(channel).default([]),
  audio: z.object({
    inputs: z.array(audioInput).max(4).default([]),
    /** The room speaker (talk sessions): none, file:<path> (a WAV), alsa:<card id>; edge/audio/voice/output.ts. */
    output: z.string().regex(/^(none|file:.+|alsa:[A-Za-z0-9_-]{1,32})$/, 'none, file:<path> or alsa:<card id>').default('none'),
  }).strict().default({ inputs: [], output: 'none' }),
  /** The talk session with a remote expert; see edge/config/voice.ts. */
  voice: VoiceConfigSchema.default(VOICE_DEFAULTS),
  /** Serial (and LAN) medical devices; see edge/devices/config.ts. */
  devices: DevicesConfigSchema.default({ ports: [] }),
  /** The fleet link (MQTT over mutual TLS); the box runs fully without it. See edge/fleet/config.ts. */
  fleet: FleetLinkConfigSchema.optional(),
  /** The OTA agent (RAUC over D-Bus, health-gated Mark good); off without it. See edge/config/ota.ts. */
  ota: OtaConfigSchema.optional(),
  rtsp: z.object({
    host: z.string().default('0.0.0.0'),
    port: z.number().int().min(1).max(65535).default(8554),
    /** UDP ports the RTSP server relays media on, two per stream and two per viewer session:
     *  RTP on the even port, RTCP on the one after it. */
    rtpPortStart: z.number().int().min(1024).max(65532).refine((n) => n % 2 === 0, 'must be even: RTP takes the even port, RTCP the one after it').default(20000),
    rtpPortCount: z.number().int().min(4).max(20_000).default(2000),
    /**
     * RTSP Digest authentication (edge/net/rtsp/server-child.ts, edge/access/digest.ts). Off by
     * default. `realm`: default `orbox <box.id>` (rtspRealm()); HA1s are kept per realm, so a
     * changed realm needs every password set again. `streams`: the least role that may watch a
     * channel (both its hq and lq streams); a channel not listed needs 'viewer'.
     */
    auth: z.object({
      required: z.boolean().default(false),
      realm: z.string().regex(REALM, '1 to 128 printable characters without " or \\').optional(),
      streams: z.record(z.string(), z.enum(ROLES)).default({}),
    }).strict().default({ required: false, streams: {} }),
  }).strict()
    .refine((r) => r.rtpPortStart + r.rtpPortCount <= 65536, { message: 'the range rtpPortStart + rtpPortCount goes past port 65535', path: ['rtpPortCount'] })
    .default({ host: '0.0.0.0', port: 8554, rtpPortStart: 20000, rtpPortCount: 2000, auth: { required: false, streams: {} } }),
  /**
   * The web console over HTTPS (edge/web/, hosted by the control worker). Off unless enabled;
   * loopback by default. `certFile`/`keyFile`: the box's certificate (from the device CA);
   * absent, a self-signed one is made once under `<dataDir>/web/`. `firstAdmin`: the account made
   * when the box has none; without a password one is generated and printed once.
   */
  web: z.object({
    enabled: z.boolean().default(false),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(8443),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    firstAdmin: z.object({
      name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,31}$/).default('admin'),
      password: z.string().min(8).max(256).optional(),
    }).strict().default({ name: 'admin' }),
    /** Minutes a session may stay unused, and at most live. */
    sessionIdleMin: z.number().int().min(1).max(24 * 60).default(30),
    sessionMaxMin: z.number().int().min(1).max(7 * 24 * 60).default(12 * 60),
  }).strict().default({ enabled: false, host: '127.0.0.1', port: 8443, firstAdmin: { name: 'admin' }, sessionIdleMin: 30, sessionMaxMin: 720 }),
  /** Live RTP to remote receivers with repair, SRTP and adaptive hq/lq; see edge/config/uplink.ts. */
  uplink: UplinkConfigSchema.default({ portStart: 30000, keyframeMinIntervalMs: 500, receivers: [] }),
  guard: z.object({
    heartbeatMs: z.number().int().min(10).max(5000).default(100),
    /** A worker whose heartbeat is older than this is hung. */
    hangMs: z.number().int().min(50).max(60_000).default(400),
    /** Deadline for a worker to become ready and for stop at shutdown. */
    startTimeoutMs: z.number().int().min(100).max(60_000).default(10_000),
    stopTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    /**
     * Restart backoff after repeated failures: first delay and cap. At least 1 ms: a backoff
     * of 0 never grows (a crash loop would spin the CPU), and edge/lib/backoff.ts refuses it
     * (the guard died on its fourth restart in a row with 0).
     */
    backoffMs: z.number().int().min(1).max(60_000).default(250),
    backoffMaxMs: z.number().int().min(1).max(600_000).default(30_000),
  }).strict()
    .refine((g) => g.backoffMaxMs >= g.backoffMs, { message: 'backoffMaxMs must be at least backoffMs', path: ['backoffMaxMs'] })
    .default({ heartbeatMs: 100, hangMs: 400, startTimeoutMs: 10_000, stopTimeoutMs: 5_000, backoffMs: 250, backoffMaxMs: 30_000 }),
  /**
   * Local recording (video-encode): segment length, the fsync period of open segments, and the
   * most recorded video a power cut or a kill may cost (the check below holds every recorded
   * channel's fsync period + two frames to it; the hq GOP does not count, up to 4 s).
   */
  recording: z.object({
    segmentS: z.number().int().min(1).max(3600).default(60),
    fsyncMs: z.number().int().min(10).max(1000).default(250),
    maxLossMs: z.number().int().min(100).max(60_000).default(1000),
    /** With a patient monitor configured (`devices.ports`), every recorded channel's segments
     *  carry its numerics as a text track (edge/video/record-vitals.ts). */
    vitalsTrack: z.boolean().default(true),
  }).strict().default({ segmentS: 60, fsyncMs: 250, maxLossMs: 1000, vitalsTrack: true }),
  /**
   * Upload of closed segments to the hospital's S3-compatible store (edge/upload); off when
   * absent. The credentials are a JSON file {accessKeyId, secretAccessKey}, never the config.
   */
  upload: z.object({
    s3: z.object({
      endpoint: z.string().url(),
      bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, '3-63 lowercase letters, digits, dots, hyphens'),
      region: z.string().min(1).default('us-east-1'),
      credentialsFile: z.string().min(1),
      /** PEM file of the CA(s) the store's certificate chains to (a hospital's own CA). */
      caFile: z.string().min(1).optional(),
    }).strict(),
    /** Key prefix; default `<box id>/`. */
    prefix: z.string().max(256).optional(),
    partMiB: z.number().int().min(5).max(512).default(8),
    /** Pace of the upload, kbit/s; 0 unpaced. */
    maxKbps: z.number().int().min(0).max(10_000_000).default(0),
    /** A verified segment stays on the box this long after its upload verified ... */
    keepLocalHours: z.number().min(0).max(24 * 365).default(24),
    /** ... or less while the disk has less than this free. Unverified segments stay (an alarm
     *  is raised) unless deleteUnuploadedWhenFull. */
    minFreeMiB: z.number().int().min(0).default(2048),
    deleteUnuploadedWhenFull: z.boolean().default(false),
    /** Local-time windows uploads may run in, `HH:MM-HH:MM` (may cross midnight); none: any time. */
    windows: z.array(z.string().regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM-HH:MM')).max(8).default([]),
    /** Hold uploads while a receiver answers the live uplink (the expert's picture first). */
    pauseDuringUplink: z.boolean().default(true),
  }).strict().optional(),
  /**
   * The longest wake-up from CPU idle the box tolerates, us, held as a PM QoS request while it
   * runs (edge/lib/cpu-latency.ts): a ring hop waits on it. 0 keeps idle CPUs in their
   * shallowest state (WFI on ARM); null makes no request.
   */
  cpu: z.object({
    wakeLatencyUs: z.number().int().min(0).max(2_000_000_000).nullable().default(0),
  }).strict().default({ wakeLatencyUs: 0 }),
  log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).strict().default({ level: 'info' }),
  debug: z.object({
    /** Lets `orbox debug fault` make a worker exit, throw or hang, to test the guard. Never on in a hospital. */
    faultInjection: z.boolean().default(false),
  }).strict().default({ faultInjection: false }),
}).strict();

export const configSchema = configSchemaBase.superRefine((cfg, ctx) => {
  const seen = new Set<string>();
  cfg.channels.forEach((c, i) => {
    if (seen.has(c.name)) ctx.addIssue({ code: 'custom', path: ['channels', i, 'name'], message: `duplicate channel name "${c.name}"` });
    seen.add(c.name);
    if (c.record) {
      const loss = recordingLossMs(c.source.fps, cfg.recording.fsyncMs);
      if (loss > cfg.recording.maxLossMs) {
        ctx.addIssue({
          code: 'custom', path: ['recording', 'fsyncMs'],
          message: `a recorded channel can lose the fsync period and two frames in flight: ${cfg.recording.fsyncMs} ms + 2 frames at ${c.source.fps} fps (channel "${c.name}") ` +
            `come to ${Math.round(loss)} ms, over recording.maxLossMs ${cfg.recording.maxLossMs}`,
        });
      }
      if (c.hq.gop > maxRecordedGop(c.source.fps)) {
        ctx.addIssue({
          code: 'custom', path: ['channels', i, 'hq', 'gop'],
          message: `a recorded channel's hq GOP may be at most ${MAX_RECORDED_GOP_S} s (segments are cut at keyframes; a player seeks to one): ` +
            `${c.hq.gop} frames at ${c.source.fps} fps is ${(c.hq.gop / c.source.fps).toFixed(2)} s; use gop <= ${maxRecordedGop(c.source.fps)}`,
        });
      }
    }
  });
  checkChannelCount(cfg.channels, ctx);
  checkSnapshots(cfg.channels, ctx);
  checkChannelAudio(cfg, ctx);
  checkUplink(cfg, ctx);
  checkRtspStreams(cfg, ctx);
  const v = cfg.voice.input;
  if (v !== undefined && !cfg.audio.inputs.some((a) => a.name === v)) {
    ctx.addIssue({ code: 'custom', path: ['voice', 'input'], message: `no audio input "${v}" (audio inputs: ${cfg.audio.inputs.map((a) => a.name).join(', ') || 'none'})` });
  }
});

/** A channel's audio names a configured audio input. */
function checkChannelAudio(cfg: z.output<typeof configSchemaBase>, ctx: z.RefinementCtx): void {
  const inputs = cfg.audio.inputs.map((a) => a.name);
  cfg.channels.forEach((c, i) => {
    if (c.audio !== undefined && !inputs.includes(c.audio)) {
      ctx.addIssue({ code: 'custom', path: ['channels', i, 'audio'], message: `channel "${c.name}" names audio input "${c.audio}", which is not in audio.inputs (inputs: ${inputs.join(', ') || 'none'})` });
    }
  });
}

/** rtsp.auth.streams names configured channels. */
function checkRtspStreams(cfg: z.output<typeof configSchemaBase>, ctx: z.RefinementCtx): void {
  const names = cfg.channels.map((c) => c.name);
  for (const ch of Object.keys(cfg.rtsp.auth.streams)) {
    if (!names.includes(ch)) ctx.addIssue({ code: 'custom', path: ['rtsp', 'auth', 'streams', ch], message: `no channel "${ch}" (channels: ${names.join(', ') || 'none'})` });
  }
}

/** The box's RTSP Digest realm: `rtsp.auth.realm`, else `orbox <box.id>`. */
export function rtspRealm(cfg: { box: { id: string }; rtsp: { auth: { realm?: string } } }): string {
  return cfg.rtsp.auth.realm ?? `orbox ${cfg.box.id}`;
}

/** Uplink receivers name configured channels, and the box's uplink ports stay clear of RTSP's. */
function checkUplink(cfg: z.output<typeof configSchemaBase>, ctx: z.RefinementCtx): void {
  const names = new Set(cfg.channels.map((c) => c.name));
  let pairs = 0;
  cfg.uplink.receivers.forEach((r, i) => {
    r.channels.forEach((c, k) => {
      if (!names.has(c)) ctx.addIssue({ code: 'custom', path: ['uplink', 'receivers', i, 'channels', k], message: `no channel "${c}" (channels: ${[...names].join(', ') || 'none'})` });
    });
    pairs += r.channels.length;
  });
  const lo = cfg.uplink.portStart, hi = lo + UPLINK_PORT_BLOCK * pairs;
  const r = cfg.rtsp;
  if (pairs > 0 && lo < r.rtpPortStart + r.rtpPortCount && r.rtpPortStart < hi) {
    ctx.addIssue({ code: 'custom', path: ['uplink', 'portStart'], message: `the uplink's ports ${lo}-${hi - 1} overlap the RTSP media ports ${r.rtpPortStart}-${r.rtpPortStart + r.rtpPortCount - 1}` });
  }
}

/**
 * What a power cut can cost a recorded channel, ms: the recorder writes every frame to its
 * segment as it comes (edge/video/recorder.ts), whatever the GOP, so what is lost is what was
 * written but not yet fsynced (up to one fsync period) and about two frames between capture
 * and the file (encoder and pipeline). A kill -9 loses only the frames: the page cache
 * survives it. Measured: test-rig/video/crash.test.ts.
 */
export function recordingLossMs(fps: number, fsyncMs: number): number {
  return fsyncMs + (2 * 1000) / fps;
}

/** Whether channel `ch`'s recording carries the vitals text track: it records, the box has a
 *  monitor, the track is not turned off. (video-encode then reads the `vitals` ring.) */
export function recordsVitals(cfg: Pick<BoxConfig, 'recording' | 'devices'>, ch: Pick<BoxConfig['channels'][number], 'record'>): boolean {
  return ch.record && cfg.recording.vitalsTrack && cfg.devices.ports.length > 0;
}

/** The longest hq GOP a recorded channel may use, s: a segment is cut at the first keyframe
 *  past its length, and a player seeking into a recording starts at a keyframe. */
export const MAX_RECORDED_GOP_S = 4;

/** The largest hq GOP (frames) a recorded channel at `fps` may use. */
export function maxRecordedGop(fps: number): number {
  return Math.max(1, Math.floor(MAX_RECORDED_GOP_S * fps));
}

/**
 * The most channels one box takes, passthrough cameras included: the RK3588, the largest
 * target, encodes about 16 1080p30 streams in all (DESIGN.md, Targets), and every channel,
 * encoded or passed through, has its rings in shared memory, a recorder and RTSP mounts.
 */
export const MAX_CHANNELS = 16;

function checkChannelCount(channels: z.output<typeof channel>[], ctx: z.RefinementCtx): void {
  if (channels.length <= MAX_CHANNELS) return;
  ctx.addIssue({
    code: 'custom', path: ['channels', MAX_CHANNELS],
    message: `a box takes at most ${MAX_CHANNELS} channels (test patterns, capture devices and cameras together); this configuration has ${channels.length}: remove ${channels.length - MAX_CHANNELS} (from "${channels[MAX_CHANNELS].name}" on)`,
  });
}

/** Stills are never larger than the source (scaling up adds bytes, not detail). */
function checkSnapshots(channels: z.output<typeof channel>[], ctx: z.RefinementCtx): void {
  channels.forEach((c, i) => {
    const w = c.snapshot.width;
    if (w !== undefined && w > c.source.width) {
      ctx.addIssue({ code: 'custom', path: ['channels', i, 'snapshot', 'width'], message: `at most the source's width (${c.source.width}); stills are never scaled up` });
    }
  });
}

/** A validated configuration: the API socket is resolved to an absolute path (validateConfig). */
export type BoxConfig = Omit<z.infer<typeof configSchema>, 'api'> & { api: { socket: string } };
export type ChannelConfig = BoxConfig['channels'][number];
export type AudioInputConfig = BoxConfig['audio']['inputs'][number];
