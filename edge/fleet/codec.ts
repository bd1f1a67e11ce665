/**
 * Protobuf codec of the fleet link: edge/proto/fleet.proto <-> plain TypeScript objects.
 *
 * Owns: loading the schema (once per process, from the .proto file in the repository), and the
 * mapping between wire messages and the typed objects the link, the console and tests use.
 * 64-bit fields: decoded with `longs: String` and turned into bigint (int metrics, event seq) or
 * number (millisecond timestamps, which stay below 2^53 until the year 287396).
 *
 * Errors: every decode throws FleetDecodeError (never a protobufjs error, never a partial
 * object); validation after decoding (command id, required body fields) throws the same.
 * Size caps are checked before decoding (see MAX_COMMAND_BYTES).
 *
 * Runs on: the control worker and the console. Pure apart from reading the .proto once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { FleetDecodeError } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Schema loading

/** Candidates relative to this module: compiled (dist/edge/fleet) then source (edge/fleet). */
const PROTO_CANDIDATES = ['../../../edge/proto/fleet.proto', '../proto/fleet.proto'];

let root: protobuf.Root | undefined;

function schema(): protobuf.Root {
  if (root) return root;
  const override = process.env.ORBOX_FLEET_PROTO;
  const path = override ?? PROTO_CANDIDATES.map((c) => fileURLToPath(new URL(c, import.meta.url))).find((p) => existsSync(p));
  if (!path) throw new Error('fleet.proto not found next to the build (expected edge/proto/fleet.proto in the checkout)');
  root = protobuf.parse(readFileSync(path, 'utf8')).root;
  root.resolveAll();
  return root;
}

function type(name: string): protobuf.Type {
  return schema().lookupType(`orbox.fleet.v1.${name}`);
}

let types: Record<'Birth' | 'Death' | 'Telemetry' | 'Command' | 'Ack' | 'Event', protobuf.Type> | undefined;
function T() {
  types ??= {
    Birth: type('Birth'),
    Death: type('Death'),
    Telemetry: type('Telemetry'),
    Command: type('Command'),
    Ack: type('Ack'),
    Event: type('Event'),
  };
  return types;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: true, oneofs: true, arrays: true, objects: true };

// ---------------------------------------------------------------------------------------------
// Limits

/**
 * Largest command payload the box decodes. The biggest legitimate command (channel settings or a
 * device command with a few dozen arguments) is well under 4 KiB; 64 KiB leaves room and bounds
 * the work an attacker with console rights, or a corrupted message, can cause.
 */
export const MAX_COMMAND_BYTES = 64 * 1024;
/**
 * Largest acknowledgement the box sends. Acks wait in the on-disk outbox and are re-sent until
 * the broker takes them, so one the broker refuses as too large (mosquitto `max_packet_size`,
 * 1 MiB in the rig) would be retried on every connection. 128 KiB holds the largest result a
 * command gives (a 64 KiB snapshot thumbnail, 87 KiB in base64) with room to spare; a larger
 * result is replaced by a FAILED ack that says so (FleetLink.finish).
 */
export const MAX_ACK_BYTES = 128 * 1024;
/** Command ids: printable ASCII without spaces, 1..128 characters (UUIDs, ULIDs, "cli-..." ids). */
export const COMMAND_ID_RE = /^[\x21-\x7e]{1,128}$/;

// ---------------------------------------------------------------------------------------------
// Types

export type MetricType = 'double' | 'int' | 'bool' | 'string';
/** A metric value; null when unknown (e.g. temperature not readable). int metrics are bigint. */
export type MetricValue = number | bigint | boolean | string | null;

const METRIC_TYPE_NUM: Record<MetricType, number> = { double: 1, int: 2, bool: 3, string: 4 };
const METRIC_TYPE_NAME: Record<number, MetricType> = { 1: 'double', 2: 'int', 3: 'bool', 4: 'string' };

export interface WireMetric {
  alias: number;
  /** Set in births only. */
  name?: string;
  type: MetricType;
  unit?: string;
  value: MetricValue;
}

export interface Birth {
  timestampMs: number;
  bdSeq: number;
  seq: number;
  metrics: WireMetric[];
  firmwareVersion: string;
  bootId: bigint;
}

export interface Death {
  timestampMs: number;
  bdSeq: number;
  reason: string;
}

export interface Telemetry {
  timestampMs: number;
  seq: number;
  metrics: WireMetric[];
}

export type CommandBody =
  | { kind: 'recordingStart'; caseId: string; channels: string[] }
  | { kind: 'recordingStop'; caseId: string }
  | { kind: 'channelSettings'; channel: string; settings: Record<string, string> }
  | { kind: 'deviceCommand'; device: string; command: string; args: Record<string, string> }
  | { kind: 'restartWorker'; worker: string }
  | { kind: 'rebirth' }
  | { kind: 'snapshot'; channel: string; save: boolean; fresh: boolean }
  | { kind: 'otaJob'; jobId: string; url: string; sha256: string; sizeBytes: number; version: string; force: boolean; timeoutS: number }
  | { kind: 'otaCancel'; jobId: string };

export type CommandKind = CommandBody['kind'];
export const COMMAND_KINDS: readonly CommandKind[] = ['recordingStart', 'recordingStop', 'channelSettings', 'deviceCommand', 'restartWorker', 'rebirth', 'snapshot', 'otaJob', 'otaCancel'];

export interface FleetCommand {
  commandId: string;
  issuedAtMs: number;
  /** 0 = never expires. */
  expiresAtMs: number;
  issuer: string;
  body: CommandBody;
}

export const ACK_STATES = ['waiting', 'started', 'finished', 'failed', 'cancelled', 'invalid', 'unsupported', 'expired'] as const;
export type AckState = (typeof ACK_STATES)[number];
/** States after which nothing more is reported for a command. */
export const TERMINAL_ACK_STATES: ReadonlySet<AckState> = new Set(['finished', 'failed', 'cancelled', 'invalid', 'unsupported', 'expired']);

export interface Ack {
  commandId: string;
  state: AckState;
  message: string;
  timestampMs: number;
  details: Record<string, string>;
  duplicate: boolean;
}

export type Severity = 'info' | 'warning' | 'error';
const SEVERITY_NUM: Record<Severity, number> = { info: 1, warning: 2, error: 3 };
const SEVERITY_NAME: Record<number, Severity> = { 1: 'info', 2: 'warning', 3: 'error' };

export interface FleetEvent {
  seq: bigint;
  timestampMs: number;
  kind: string;
  severity: Severity;
  message: string;
  fields: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Helpers

type Obj = Record<string, unknown>;

function decodeWith(t: protobuf.Type, buf: Uint8Array, what: string): Obj {
  try {
    return t.toObject(t.decode(buf), TO_OBJECT) as Obj;
  } catch (err) {
    // protobufjs range errors read "index out of range: <pos> + <n> > <len>": keep the position.
    const m = /index out of range: (\d+)/.exec(String((err as Error).message));
    throw new FleetDecodeError(`${what}: ${(err as Error).message}`, m ? Number(m[1]) : -1, { cause: err });
  }
}

function encodeWith(t: protobuf.Type, obj: Obj): Uint8Array {
  return t.encode(t.fromObject(obj)).finish();
}

function toMs(v: unknown): number {
  return Number(v ?? 0);
}

function encodeMetric(m: WireMetric, full: boolean): Obj {
  const o: Obj = { alias: m.alias };
  if (full) {
    o.name = m.name ?? '';
    o.type = METRIC_TYPE_NUM[m.type];
    if (m.unit) o.unit = m.unit;
  }
  const v = m.value;
  if (v === null) o.isNull = true;
  else if (m.type === 'double') o.doubleValue = Number(v);
  else if (m.type === 'int') o.intValue = typeof v === 'bigint' ? v.toString() : Math.trunc(Number(v));
  else if (m.type === 'bool') o.boolValue = Boolean(v);
  else o.stringValue = String(v);
  return o;
}

function decodeMetric(o: Obj, typeByAlias?: ReadonlyMap<number, MetricType>): WireMetric {
  const alias = Number(o.alias);
  const which = o.value as string | undefined;
  const declared = METRIC_TYPE_NAME[Number(o.type)];
  let type: MetricType = declared ?? typeByAlias?.get(alias) ?? 'double';
  let value: MetricValue = null;
  if (!o.isNull) {
    switch (which) {
      case 'doubleValue': value = Number(o.doubleValue); type = declared ?? 'double'; break;
      case 'intValue': value = BigInt(o.intValue as string); type = declared ?? 'int'; break;
      case 'boolValue': value = Boolean(o.boolValue); type = declared ?? 'bool'; break;
      case 'stringValue': value = String(o.stringValue); type = declared ?? 'string'; break;
      default: value = null;
    }
  }
  const m: WireMetric = { alias, type, value };
  if (o.name) m.name = String(o.name);
  if (o.unit) m.unit = String(o.unit);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Birth / death / telemetry

export function encodeBirth(b: Birth): Uint8Array {
  return encodeWith(T().Birth, {
    timestampMs: b.timestampMs,
    bdSeq: b.bdSeq & 0xff,
    seq: b.seq & 0xff,
    metrics: b.metrics.map((m) => encodeMetric(m, true)),
    firmwareVersion: b.firmwareVersion,
    bootId: b.bootId.toString(),
  });
}

export function decodeBirth(buf: Uint8Array): Birth {
  const o = decodeWith(T().Birth, buf, 'birth');
  return {
    timestampMs: toMs(o.timestampMs),
    bdSeq: Number(o.bdSeq),
    seq: Number(o.seq),
    metrics: (o.metrics as Obj[]).map((m) => decodeMetric(m)),
    firmwareVersion: String(o.firmwareVersion),
    bootId: BigInt(o.bootId as string),
  };
}

export function encodeDeath(d: Death): Uint8Array {
  return encodeWith(T().Death, { timestampMs: d.timestampMs, bdSeq: d.bdSeq & 0xff, reason: d.reason });
}

export function decodeDeath(buf: Uint8Array): Death {
  const o = decodeWith(T().Death, buf, 'death');
  return { timestampMs: toMs(o.timestampMs), bdSeq: Number(o.bdSeq), reason: String(o.reason) };
}

export function encodeTelemetry(t: Telemetry): Uint8Array {
  return encodeWith(T().Telemetry, { timestampMs: t.timestampMs, seq: t.seq & 0xff, metrics: t.metrics.map((m) => encodeMetric(m, false)) });
}

/** `typeByAlias` (from the birth) is only needed to type null values; values carry their type. */
export function decodeTelemetry(buf: Uint8Array, typeByAlias?: ReadonlyMap<number, MetricType>): Telemetry {
  const o = decodeWith(T().Telemetry, buf, 'telemetry');
  return { timestampMs: toMs(o.timestampMs), seq: Number(o.seq), metrics: (o.metrics as Obj[]).map((m) => decodeMetric(m, typeByAlias)) };
}

// ---------------------------------------------------------------------------------------------
// Commands

export function encodeCommand(c: FleetCommand): Uint8Array {
  const { kind, ...fields } = c.body;
  return encodeWith(T().Command, {
    commandId: c.commandId,
    issuedAtMs: c.issuedAtMs,
    expiresAtMs: c.expiresAtMs,
    issuer: c.issuer,
    [kind]: fields,
  });
}

function requireText(o: Obj, key: string, what: string): string {
  const v = String(o[key] ?? '');
  if (!v) throw new FleetDecodeError(`${what}: ${key} is required`);
  if (v.length > 256) throw new FleetDecodeError(`${what}: ${key} longer than 256 characters`);
  return v;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries((v as Obj | undefined) ?? {})) out[k] = String(val);
  return out;
}

/**
 * Decodes and validates a command. Throws FleetDecodeError for oversize payloads, malformed
 * protobuf, a missing/invalid command id or a missing/invalid body.
 */
export function decodeCommand(buf: Uint8Array, maxBytes = MAX_COMMAND_BYTES): FleetCommand {
  if (buf.length > maxBytes) throw new FleetDecodeError(`command: ${buf.length} bytes exceeds the limit of ${maxBytes}`, maxBytes);
  const o = decodeWith(T().Command, buf, 'command');
  const commandId = String(o.commandId);
  if (!COMMAND_ID_RE.test(commandId)) throw new FleetDecodeError('command: command_id missing or not 1..128 printable characters');
  const kind = o.body as CommandKind | undefined;
  if (!kind) throw new FleetDecodeError('command: no body');
  const b = o[kind] as Obj;
  const what = `command ${kind}`;
  let body: CommandBody;
  switch (kind) {
    case 'recordingStart': body = { kind, caseId: String(b.caseId), channels: (b.channels as unknown[]).map(String) }; break;
    case 'recordingStop': body = { kind, caseId: String(b.caseId) }; break;
    case 'channelSettings': body = { kind, channel: requireText(b, 'channel', what), settings: stringMap(b.settings) }; break;
    case 'deviceCommand': body = { kind, device: requireText(b, 'device', what), command: requireText(b, 'command', what), args: stringMap(b.args) }; break;
    case 'restartWorker': body = { kind, worker: requireText(b, 'worker', what) }; break;
    case 'rebirth': body = { kind }; break;
    case 'snapshot': body = { kind, channel: requireText(b, 'channel', what), save: Boolean(b.save), fresh: Boolean(b.fresh) }; break;
    case 'otaJob': body = {
      kind, jobId: requireText(b, 'jobId', what), url: requireText(b, 'url', what), sha256: requireText(b, 'sha256', what), sizeBytes: toMs(b.sizeBytes),
      version: requireText(b, 'version', what), force: Boolean(b.force), timeoutS: Number(b.timeoutS ?? 0),
    }; break;
    case 'otaCancel': body = { kind, jobId: requireText(b, 'jobId', what) }; break;
    default: throw new FleetDecodeError(`command: unknown body ${String(kind)}`);
  }
  return { commandId, issuedAtMs: toMs(o.issuedAtMs), expiresAtMs: toMs(o.expiresAtMs), issuer: String(o.issuer), body };
}

/**
 * Best effort: the command id (field 1) of a payload that failed to decode, so the box can answer
 * INVALID to the right command. Walks top-level fields only, with every read bounds-checked by
 * the protobufjs Reader; returns undefined when the id cannot be read or is not a valid id.
 */
export function salvageCommandId(buf: Uint8Array): string | undefined {
  try {
    const r = protobuf.Reader.create(buf);
    // Bounded: at most 64 top-level fields before giving up.
    for (let i = 0; i < 64 && r.pos < r.len; i++) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 0) return undefined;
      if (field === 1 && wire === 2) {
        const id = r.string();
        return COMMAND_ID_RE.test(id) ? id : undefined;
      }
      r.skipType(wire);
    }
  } catch {
    /* unreadable: no id */
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Acks and events

const ACK_NUM: Record<AckState, number> = { waiting: 1, started: 2, finished: 3, failed: 4, cancelled: 5, invalid: 6, unsupported: 7, expired: 8 };

export function encodeAck(a: Ack): Uint8Array {
  return encodeWith(T().Ack, {
    commandId: a.commandId,
    state: ACK_NUM[a.state],
    message: a.message,
    timestampMs: a.timestampMs,
    details: a.details,
    duplicate: a.duplicate,
  });
}

export function decodeAck(buf: Uint8Array): Ack {
  const o = decodeWith(T().Ack, buf, 'ack');
  const state = ACK_STATES[Number(o.state) - 1];
  if (!state) throw new FleetDecodeError(`ack: unknown state ${String(o.state)}`);
  return {
    commandId: String(o.commandId),
    state,
    message: String(o.message),
    timestampMs: toMs(o.timestampMs),
    details: stringMap(o.details),
    duplicate: Boolean(o.duplicate),
  };
}

export function encodeEvent(e: FleetEvent): Uint8Array {
  return encodeWith(T().Event, {
    seq: e.seq.toString(),
    timestampMs: e.timestampMs,
    kind: e.kind,
    severity: SEVERITY_NUM[e.severity],
    message: e.message,
    fields: e.fields,
  });
}

export function decodeEvent(buf: Uint8Array): FleetEvent {
  const o = decodeWith(T().Event, buf, 'event');
  return {
    seq: BigInt(o.seq as string),
    timestampMs: toMs(o.timestampMs),
    kind: String(o.kind),
    severity: SEVERITY_NAME[Number(o.severity)] ?? 'info',
    message: String(o.message),
    fields: stringMap(o.fields),
  };
}

/** JSON.stringify replacer that writes bigint as a decimal string (for logs and the CLI). */
export function jsonBigint(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
