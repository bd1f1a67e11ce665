/**
 * Export of a vitals track to CSV (spreadsheets, research) and to WebVTT (a caption track a
 * player shows next to the case video: the values on screen at each moment of the video).
 *
 * WebVTT times are relative to the video's first frame, given as its box wall time
 * (`videoStartWallNs`), which lines up because video and vitals are stamped by the same clock.
 */
import { DEFAULT_STALE_MS, VitalsDisplay } from './display.js';
import type { VitalSample } from './sample.js';

function iso(ns: bigint): string {
  return ns === 0n ? '' : new Date(Number(ns / 1_000_000n)).toISOString();
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export const CSV_HEADER = 'host_time,host_wall_ns,port,protocol,seq,kind,label,mdc_code,vendor_code,value,unit,state_flags,device_time,detail';

export interface CsvOptions {
  /** 'omit' (default): numerics, alarms and gaps only; 'expand': one row per wave sample. */
  waves?: 'omit' | 'expand';
}

/** CSV lines (header first), one per sample (or per wave sample with waves: 'expand'). */
export function* toCsvLines(samples: Iterable<VitalSample>, opts: CsvOptions = {}): Generator<string> {
  yield CSV_HEADER;
  for (const s of samples) {
    const base = (t: bigint, value: string, detail: string) =>
      [iso(t), t.toString(), s.port, s.protocol, s.seq.toString(), s.kind, s.label, String(s.mdcCode), String(s.vendorCode), value, s.unit, String(s.stateFlags), iso(s.deviceTimeNs), detail]
        .map(csvField)
        .join(',');
    switch (s.kind) {
      case 'numeric':
        yield base(s.hostWallNs, s.value === undefined ? '' : String(s.value), '');
        break;
      case 'alarm':
        yield base(s.hostWallNs, '', `${s.alarmPriority}: ${s.alarmText}`);
        break;
      case 'gap':
        yield base(s.gapStartNs, '', `gap ${s.gapReason} from ${iso(s.gapStartNs)} to ${s.gapEndNs ? iso(s.gapEndNs) : 'open'}`);
        break;
      case 'wave':
        if (opts.waves === 'expand') {
          for (let i = 0; i < s.samples.length; i++) {
            const v = s.samples[i]!;
            yield base(s.hostWallNs + BigInt(i) * s.samplePeriodNs, Number.isFinite(v) ? String(v) : '', '');
          }
        }
        break;
    }
  }
}

export function toCsv(samples: Iterable<VitalSample>, opts: CsvOptions = {}): string {
  return [...toCsvLines(samples, opts)].join('\n') + '\n';
}

export interface VttOptions {
  /** Box wall ns of the video's first frame; cue times are relative to it. */
  videoStartWallNs: bigint;
  /** A value older than this is no longer shown (default 15 s); NIBP stays until replaced. */
  staleMs?: number;
  /** Cue granularity in ms (default 1000). */
  stepMs?: number;
}

function vttTime(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const f = ms % 1000;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(f).padStart(3, '0')}`;
}

function escapeVtt(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/-->/g, '--&gt;');
}

/**
 * WebVTT with one cue per step in which the shown text changes (VitalsDisplay's text: fresh
 * numerics, NIBP, active alarms, "NO DATA <port> (<reason>)" during a gap).
 */
export function toWebVtt(samples: readonly VitalSample[], opts: VttOptions): string {
  const stepNs = BigInt(opts.stepMs ?? 1000) * 1_000_000n;
  const events = samples.filter((s) => s.kind !== 'wave' && s.hostWallNs >= opts.videoStartWallNs).sort((a, b) => (a.hostWallNs < b.hostWallNs ? -1 : a.hostWallNs > b.hostWallNs ? 1 : 0));
  const display = new VitalsDisplay(opts.staleMs ?? DEFAULT_STALE_MS);
  const cues: { from: bigint; to: bigint; text: string }[] = [];
  let i = 0;
  if (!events.length) return 'WEBVTT\n';
  const last = events[events.length - 1]!.hostWallNs;
  let prevText = '';
  for (let t = opts.videoStartWallNs; t <= last + stepNs; t += stepNs) {
    while (i < events.length && events[i]!.hostWallNs < t + stepNs) display.apply(events[i++]!);
    const text = display.text(t);
    if (text !== prevText) {
      const from = t - opts.videoStartWallNs;
      if (cues.length) cues[cues.length - 1]!.to = from;
      if (text) cues.push({ from, to: from + stepNs, text });
      prevText = text;
    } else if (cues.length && text) cues[cues.length - 1]!.to = t - opts.videoStartWallNs + stepNs;
  }
  let out = 'WEBVTT\n';
  cues.forEach((c, n) => {
    out += `\n${n + 1}\n${vttTime(c.from)} --> ${vttTime(c.to)}\n${escapeVtt(c.text)}\n`;
  });
  return out;
}
