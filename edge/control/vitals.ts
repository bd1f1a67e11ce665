/**
 * The vitals as the web console shows them: the latest numeric of each (port, label), and a
 * bounded history of every numeric for the scrolling plot (heart rate among them). Fed with the
 * samples control reads from the vitals ring; waves and gaps are left to the recorded track.
 * Samples of a `simulated` port keep their flag so the page says so. Runs on the control
 * worker; no I/O; memory bounded by MAX_POINTS per series and MAX_SERIES.
 */
import { StateFlag, type VitalSample } from '../devices/index.js';

/** 10 min at one numeric per second: the console's plot window and then some. */
export const MAX_POINTS = 600;
const MAX_SERIES = 64;

export interface VitalNumeric { port: string; label: string; unit: string; value: number | null; atMs: number; simulated: boolean; alarm: boolean }

export class VitalsView {
  private readonly latest = new Map<string, VitalNumeric>();
  private readonly series = new Map<string, { t: number[]; v: (number | null)[] }>();

  onSample(s: VitalSample): void {
    if (s.kind !== 'numeric' || !s.label) return;
    const key = `${s.port}/${s.label}`;
    if (!this.latest.has(key) && this.latest.size >= MAX_SERIES) return;
    const atMs = Number(s.hostWallNs / 1_000_000n);
    const value = s.value !== undefined && Number.isFinite(s.value) ? s.value : null;
    this.latest.set(key, {
      port: s.port, label: s.label, unit: s.unit, value, atMs,
      simulated: (s.stateFlags & StateFlag.SIMULATED) !== 0, alarm: (s.stateFlags & StateFlag.ALARM_ACTIVE) !== 0,
    });
    let h = this.series.get(key);
    if (!h) this.series.set(key, (h = { t: [], v: [] }));
    h.t.push(atMs); h.v.push(value);
    if (h.t.length > MAX_POINTS) { h.t.splice(0, h.t.length - MAX_POINTS); h.v.splice(0, h.v.length - MAX_POINTS); }
  }

  /** Latest numerics, and the history of the labels asked for (all when none), times in ms since the epoch. */
  snapshot(labels?: string[]): { numerics: VitalNumeric[]; series: Record<string, { t: number[]; v: (number | null)[] }> } {
    const series: Record<string, { t: number[]; v: (number | null)[] }> = {};
    for (const [k, h] of this.series) if (!labels?.length || labels.includes(k.slice(k.indexOf('/') + 1))) series[k] = { t: [...h.t], v: [...h.v] };
    return { numerics: [...this.latest.values()], series };
  }
}
