/**
 * The box's metric set, reported by exception (after Sparkplug B).
 *
 * Owns: the list of metric definitions (name, type, unit, deadband), each metric's alias (its
 * index in definition order, stable for one birth), the current value of every metric and the
 * value last reported. The birth lists every metric with its current value; telemetry carries
 * only metrics whose value changed by more than their deadband since last reported.
 *
 * Data-driven: the runtime core defines what it measures (standardMetrics() gives the usual set
 * for a layout of workers, rings, channels and devices) and may add metrics at any time; a new
 * definition makes `birthNeeded` true because aliases are only announced in a birth.
 *
 * Runs on: the control worker. Pure (no I/O, no clock).
 */
import type { MetricType, MetricValue, WireMetric } from './codec.js';

export interface MetricDefinition {
  /** Slash-separated path, e.g. "channel/endoscope/fps". 1..128 characters. */
  name: string;
  type: MetricType;
  /** Unit symbol ("fps", "bit/s", "B", "Cel"), shown by the console. */
  unit?: string;
  description?: string;
  /**
   * For double and int metrics: a change not greater than this (absolute) is not reported by
   * exception (it still shows in the next birth). Default 0: every change is reported.
   */
  deadband?: number;
}

/** What the core measures; names of the metrics standardMetrics() creates for it. */
export interface MetricLayout {
  workers?: readonly string[];
  rings?: readonly string[];
  channels?: readonly string[];
  devices?: readonly string[];
}

/**
 * The usual metric set of a box. Per worker: `worker/<w>/healthy`, `worker/<w>/restarts`;
 * per ring: `ring/<r>/overruns`; per channel: `channel/<c>/fps`, `channel/<c>/bitrate`,
 * `channel/<c>/dropped_frames`; per device: `device/<d>/connected` and `device/<d>/simulated`; and `recording/state`,
 * `recording/case_id`, `disk/free_bytes`, `system/temperature_c` (null where not readable),
 * `upload/backlog` and `upload/alarm` (empty when uploads are off or all is well).
 */
export function standardMetrics(layout: MetricLayout): MetricDefinition[] {
  const defs: MetricDefinition[] = [];
  for (const w of layout.workers ?? []) {
    defs.push({ name: `worker/${w}/healthy`, type: 'bool' });
    defs.push({ name: `worker/${w}/restarts`, type: 'int' });
  }
  for (const r of layout.rings ?? []) defs.push({ name: `ring/${r}/overruns`, type: 'int' });
  for (const c of layout.channels ?? []) {
    // Deadbands: frame rate jitters by fractions of a frame, bitrate by a few percent; an
    // operator acts on neither, and reporting each wiggle would make telemetry continuous.
    defs.push({ name: `channel/${c}/fps`, type: 'double', unit: 'fps', deadband: 0.5 });
    defs.push({ name: `channel/${c}/bitrate`, type: 'int', unit: 'bit/s', deadband: 100_000 });
    defs.push({ name: `channel/${c}/dropped_frames`, type: 'int' });
  }
  for (const d of layout.devices ?? []) {
    defs.push({ name: `device/${d}/connected`, type: 'bool' });
    // True for a simulator (the demo's monitor): the console must not take its vitals for a patient's.
    defs.push({ name: `device/${d}/simulated`, type: 'bool' });
  }
  defs.push({ name: 'recording/state', type: 'string' });
  defs.push({ name: 'recording/case_id', type: 'string' });
  defs.push({ name: 'disk/free_bytes', type: 'int', unit: 'B', deadband: 64 * 1024 * 1024 });
  defs.push({ name: 'system/temperature_c', type: 'double', unit: 'Cel', deadband: 0.5 });
  // Segments not yet verified in the hospital's store, and the storage alarm (edge/upload).
  defs.push({ name: 'upload/backlog', type: 'int' });
  defs.push({ name: 'upload/alarm', type: 'string' });
  return defs;
}

interface Entry {
  def: MetricDefinition;
  alias: number;
  value: MetricValue;
  reported: MetricValue;
  /** Never reported since the last birth (a birth reports everything). */
  dirty: boolean;
}

const MAX_NAME = 128;
const MAX_STRING_VALUE = 256;

export class MetricSet {
  private readonly byName = new Map<string, Entry>();
  private readonly entries: Entry[] = [];
  private newSinceBirth = false;

  constructor(defs: readonly MetricDefinition[] = []) {
    for (const d of defs) this.define(d);
  }

  /** True when a metric was defined after the last birth: the link must publish a new birth. */
  get birthNeeded(): boolean {
    return this.newSinceBirth;
  }

  get size(): number {
    return this.entries.length;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Adds a metric (value null until set). Redefining with the same type is a no-op. */
  define(def: MetricDefinition): void {
    if (!def.name || def.name.length > MAX_NAME) throw new RangeError(`metric name must be 1..${MAX_NAME} characters: ${def.name}`);
    const old = this.byName.get(def.name);
    if (old) {
      if (old.def.type !== def.type) throw new TypeError(`metric ${def.name} already defined as ${old.def.type}`);
      return;
    }
    const e: Entry = { def: { ...def }, alias: this.entries.length, value: null, reported: null, dirty: false };
    this.entries.push(e);
    this.byName.set(def.name, e);
    this.newSinceBirth = true;
  }

  /**
   * Sets current values. A name not yet defined is defined from its value's type (bigint -> int,
   * number -> double, boolean -> bool, string -> string), which makes a new birth necessary.
   * Throws TypeError for a value that does not fit the metric's type.
   */
  set(values: Readonly<Record<string, MetricValue>>): void {
    for (const [name, raw] of Object.entries(values)) {
      let e = this.byName.get(name);
      if (!e) {
        if (raw === null) continue; // nothing to infer a type from
        this.define({ name, type: inferType(raw) });
        e = this.byName.get(name)!;
      }
      e.value = coerce(e.def, raw);
      if (!e.dirty && changed(e.def, e.reported, e.value)) e.dirty = true;
    }
  }

  get(name: string): MetricValue | undefined {
    return this.byName.get(name)?.value;
  }

  /** Every metric with name, type, unit and current value; marks all reported. */
  takeBirth(): WireMetric[] {
    this.newSinceBirth = false;
    return this.entries.map((e) => {
      e.reported = e.value;
      e.dirty = false;
      const m: WireMetric = { alias: e.alias, name: e.def.name, type: e.def.type, value: e.value };
      if (e.def.unit) m.unit = e.def.unit;
      return m;
    });
  }

  /** Metrics changed beyond their deadband since last reported (alias, type, value); marks them reported. */
  takeChanges(): WireMetric[] {
    const out: WireMetric[] = [];
    for (const e of this.entries) {
      if (!e.dirty) continue;
      e.dirty = false;
      if (!changed(e.def, e.reported, e.value)) continue; // moved back within the deadband
      e.reported = e.value;
      out.push({ alias: e.alias, type: e.def.type, value: e.value });
    }
    return out;
  }

  /** True when takeChanges() would return something. */
  get hasChanges(): boolean {
    return this.entries.some((e) => e.dirty && changed(e.def, e.reported, e.value));
  }
}

function inferType(v: Exclude<MetricValue, null>): MetricType {
  switch (typeof v) {
    case 'bigint': return 'int';
    case 'number': return 'double';
    case 'boolean': return 'bool';
    default: return 'string';
  }
}

function coerce(def: MetricDefinition, v: MetricValue): MetricValue {
  if (v === null) return null;
  switch (def.type) {
    case 'double':
      if (typeof v !== 'number' && typeof v !== 'bigint') throw new TypeError(`metric ${def.name}: expected a number`);
      return Number(v);
    case 'int':
      if (typeof v === 'bigint') return v;
      if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
      throw new TypeError(`metric ${def.name}: expected an integer`);
    case 'bool':
      if (typeof v !== 'boolean') throw new TypeError(`metric ${def.name}: expected a boolean`);
      return v;
    case 'string':
      if (typeof v !== 'string') throw new TypeError(`metric ${def.name}: expected a string`);
      return v.length > MAX_STRING_VALUE ? v.slice(0, MAX_STRING_VALUE) : v;
  }
}

function changed(def: MetricDefinition, reported: MetricValue, value: MetricValue): boolean {
  if (reported === value) return false;
  if (reported === null || value === null) return true;
  const band = def.deadband ?? 0;
  if (def.type === 'double') return Number.isNaN(value as number) !== Number.isNaN(reported as number) || Math.abs((value as number) - (reported as number)) > band;
  if (def.type === 'int') {
    const d = (value as bigint) - (reported as bigint);
    return (d < 0n ? -d : d) > BigInt(Math.trunc(band));
  }
  return true;
}
