/**
 * Configuration of the box-side fleet link, as a zod schema the box configuration embeds
 * (`fleet: FleetLinkConfigSchema`), so a bad value is reported with its key path
 * ("fleet.reconnect.maxMs: ..."). Defaults are chosen for a hospital network: a broker on the
 * LAN, boxes that may be offline for hours, a few hundred boxes reconnecting at once.
 *
 * TLS material is given as PEM text/buffers or as file paths (read at start(), so a renewed
 * certificate is picked up on the next start).
 */
import { z } from 'zod';
import { FleetConfigError } from './errors.js';
import { BOX_ID_RE } from './topics.js';

const pem = z.union([z.string().min(1), z.instanceof(Uint8Array)]);

export const ReconnectSchema = z
  .object({
    /** First reconnect delay, ms. */
    minMs: z.number().int().positive().default(500),
    /** Largest reconnect delay, ms. */
    maxMs: z.number().int().positive().default(60_000),
    /** Randomised fraction of each delay (0..1). */
    jitter: z.number().min(0).max(1).default(0.5),
  })
  .refine((r) => r.maxMs >= r.minMs, { message: 'maxMs must be >= minMs', path: ['maxMs'] });

export const FleetLinkConfigSchema = z.object({
  /** Broker URL, mqtts://host:port (TLS is required: the box authenticates by certificate). */
  url: z.string().regex(/^(mqtts|wss):\/\/[^\s/]+/, 'must be an mqtts:// or wss:// URL'),
  /** Box id: the CN of the box certificate, used as MQTT client id and topic level. */
  boxId: z.string().regex(BOX_ID_RE, 'must be 1..64 of [A-Za-z0-9._-] (it is a topic level)'),
  /** CA certificate of the broker (PEM text/buffer or path). */
  ca: pem,
  /** The box's own certificate (PEM text/buffer or path). */
  cert: pem,
  /** The box's private key (PEM text/buffer or path). */
  key: pem,
  /** Directory for the outbox and command ledger (on the data partition). */
  queueDir: z.string().min(1),
  /** Outbox bound in bytes (oldest dropped beyond). */
  queueMaxBytes: z.number().int().positive().default(64 * 1024 * 1024),
  /** Outbox bound in records (oldest dropped beyond). */
  queueMaxRecords: z.number().int().positive().default(100_000),
  /** Command ids remembered for exactly-once execution. */
  dedupMaxRecords: z.number().int().positive().default(100_000),
  /** 'full' fsyncs each ledger write (survives power cuts); 'normal' survives process crashes. */
  durability: z.enum(['full', 'normal']).default('full'),
  reconnect: ReconnectSchema.default({ minMs: 500, maxMs: 60_000, jitter: 0.5 }),
  /** MQTT keepalive, seconds: how fast the broker notices a dead box and sends its death. */
  keepaliveS: z.number().int().min(5).max(65535).default(30),
  /**
   * How long the broker keeps the box's session (subscription and queued commands) while the box
   * is offline, seconds. Default 7 days: a box powered off over a long weekend still gets its
   * commands; commands carry their own expiry.
   */
  sessionExpiryS: z.number().int().min(0).max(0xffffffff).default(7 * 24 * 3600),
  /** Connect (TCP+TLS+CONNACK) timeout, ms. */
  connectTimeoutMs: z.number().int().positive().default(10_000),
  /** Largest accepted command payload, bytes. */
  commandMaxBytes: z.number().int().positive().max(1024 * 1024).default(64 * 1024),
  /** A command handler running longer than this is acknowledged FAILED ("timeout"), ms. */
  // Longer than a remote device command may take: the device layer reports no answer in 60 s
  // as invalid, and control waits 65 s for that report (control/commands.ts).
  commandTimeoutMs: z.number().int().positive().default(70_000),
  /** Reported in the birth. */
  firmwareVersion: z.string().default('0.0.0-dev'),
  /** Verify the broker certificate's name (off only for lab brokers addressed by IP without SAN). */
  checkServerIdentity: z.boolean().default(true),
});

export type FleetLinkConfigInput = z.input<typeof FleetLinkConfigSchema>;
export type FleetLinkConfig = z.output<typeof FleetLinkConfigSchema>;

/** Validates and fills defaults; throws FleetConfigError naming each bad key path. */
export function parseFleetLinkConfig(input: unknown, pathPrefix = ''): FleetLinkConfig {
  const r = FleetLinkConfigSchema.safeParse(input);
  if (r.success) return r.data;
  throw new FleetConfigError(
    r.error.issues.map((i) => ({ path: [pathPrefix, ...i.path.map(String)].filter(Boolean).join('.'), message: i.message })),
  );
}
