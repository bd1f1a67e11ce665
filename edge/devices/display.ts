/**
 * What a screen shows of the patient monitors at a moment: the numerics still fresh (NIBP as
 * SYS/DIA (MEAN), kept until the next measurement), the active alarms, and "NO DATA <port>
 * (<reason>)" while a port's gap is open. One text, used wherever the vitals are drawn over
 * video: the export's WebVTT cues (export.ts) and the recording's text track
 * (edge/video/record-vitals.ts), so both say the same thing.
 *
 * Contract: apply() the samples in capture order (waves are ignored), then text(atNs) for any
 * moment not before the last applied sample. Pure state, no I/O.
 */
import type { VitalSample } from './sample.js';

/** A numeric older than this is no longer shown (NIBP excepted). */
export const DEFAULT_STALE_MS = 15_000;

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '--';
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

export class VitalsDisplay {
  private readonly latest = new Map<string, VitalSample>();
  private readonly alarms = new Map<string, VitalSample>();
  private readonly openGaps = new Map<string, VitalSample>();
  private readonly staleNs: bigint;

  constructor(staleMs = DEFAULT_STALE_MS) {
    this.staleNs = BigInt(staleMs) * 1_000_000n;
  }

  apply(s: VitalSample): void {
    if (s.kind === 'numeric') this.latest.set(`${s.port}/${s.label}`, s);
    else if (s.kind === 'alarm') {
      if (s.alarmPriority === 'none' || !s.alarmText) { for (const k of [...this.alarms.keys()]) if (k.startsWith(`${s.port}/`)) this.alarms.delete(k); }
      else this.alarms.set(`${s.port}/${s.alarmText}`, s);
    } else if (s.kind === 'gap') {
      if (s.gapEndNs === 0n) this.openGaps.set(s.port, s);
      else this.openGaps.delete(s.port);
    }
  }

  /** The text at box wall time `atNs` (lines joined by "\n"; '' when nothing is to be shown). */
  text(atNs: bigint): string {
    const parts: string[] = [];
    const fresh = (s: VitalSample): boolean => s.label.startsWith('NIBP') || atNs - s.hostWallNs <= this.staleNs;
    for (const s of this.latest.values()) {
      if (s.label.startsWith('NIBP') || !fresh(s)) continue;
      parts.push(`${s.label} ${fmt(s.value)}${s.unit ? ' ' + s.unit : ''}`);
    }
    const shown = (label: string): VitalSample | undefined => [...this.latest.values()].find((s) => s.label === label);
    const sys = shown('NIBP_SYS');
    if (sys) parts.push(`NIBP ${fmt(sys.value)}/${fmt(shown('NIBP_DIA')?.value)} (${fmt(shown('NIBP_MEAN')?.value)}) ${sys.unit}`);
    const lines = [parts.join('  ')];
    for (const a of this.alarms.values()) lines.push(`ALARM ${a.alarmPriority.toUpperCase()}: ${a.alarmText}`);
    for (const g of this.openGaps.values()) lines.push(`NO DATA ${g.port} (${g.gapReason})`);
    return lines.filter(Boolean).join('\n');
  }
}
