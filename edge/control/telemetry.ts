/**
 * Telemetry of this box for the fleet link, read from what the box already keeps: the health
 * table (worker health, restarts), the rings (overruns), device connection events, the data
 * volume's free space and the SoC temperature where the kernel exposes it. Sampled once a
 * second on the control worker; the fleet link reports only what changed (by exception).
 */
import { readFileSync, statfsSync } from 'node:fs';
import { WORKER_NAMES, WorkerState, type HealthTable } from '../lib/health.js';
import { isSlotRing, ringStats, slotRingStats } from '../lib/ring/index.js';
import type { RingSpec } from '../runtime/index.js';
import type { DeviceStatus } from './devices.js';

export type MetricValues = Record<string, number | bigint | boolean | string | null>;

export function sampleTelemetry(health: HealthTable, rings: { spec: RingSpec; sab: SharedArrayBuffer }[], devices: readonly DeviceStatus[], dataDir: string): MetricValues {
  const m: MetricValues = {};
  for (const w of WORKER_NAMES) {
    const s = health.snapshot(w);
    m[`worker/${w}/healthy`] = s.state === WorkerState.Ready;
    m[`worker/${w}/restarts`] = s.restarts;
  }
  for (const { spec, sab } of rings) {
    const cons = isSlotRing(sab) ? slotRingStats(sab).consumers : ringStats(sab).consumers;
    m[`ring/${spec.name}/overruns`] = cons.reduce((a, c) => a + c.overruns, 0);
  }
  for (const d of devices) {
    m[`device/${d.name}/connected`] = d.state === 'connected';
    m[`device/${d.name}/simulated`] = d.simulated;
  }
  try {
    const fs = statfsSync(dataDir);
    m['disk/free_bytes'] = fs.bavail * fs.bsize;
  } catch { /* the data volume is not mounted yet: leave the metric as it was */ }
  const temp = readTemperature();
  if (temp !== undefined) m['system/temperature_c'] = temp;
  return m;
}

/** SoC temperature in °C from the first thermal zone, if the kernel exposes one. */
export function readTemperature(path = '/sys/class/thermal/thermal_zone0/temp'): number | undefined {
  try {
    const milli = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(milli) ? milli / 1000 : undefined;
  } catch {
    return undefined;
  }
}
