/**
 * The box status that `orbox status` shows: every worker (state, restarts, heartbeat age)
 * and every ring (capacity, fill, records, and per consumer: read, overruns, lost).
 * Pure reads of the shared health table and ring headers; runs on the control worker.
 */
import { HealthTable, WORKER_NAMES, type WorkerHealth } from '../lib/health.js';
import { isSlotRing, ringStats, slotRingStats } from '../lib/ring/index.js';
import type { CpuLatencyState } from '../lib/cpu-latency.js';
import type { RingSpec } from '../runtime/index.js';
import type { PairStats } from '../net/uplink/pair-sender.js';
import type { ViewerReport } from '../rtp/receiver-reports.js';
import type { DeviceStatus } from './devices.js';
import type { UploaderStatus } from '../upload/index.js';

export interface RingStatus {
  name: string;
  type: 'record' | 'slot';
  producer: string;
  capacityBytes: number;
  /** Fill of the slowest consumer, 0..1. */
  fill: number;
  records: number;
  dropped?: number;
  consumers: { worker: string; read: number; overruns: number; lost: number }[];
}

export interface BoxStatus {
  box: { id: string; room: string; healthy: boolean; uptimeMs: number; pid: number };
  workers: WorkerHealth[];
  rings: RingStatus[];
  /** The supervisor's CPU wake-up latency request (edge/lib/cpu-latency.ts). */
  cpu?: CpuLatencyState;
  /** Configured device ports (edge/control/devices.ts). */
  devices?: DeviceStatus[];
  /** Segment upload and retention (edge/upload), when configured. */
  upload?: UploaderStatus;
  /** The video path (control/recordings.ts): probed pipeline profile, recording, stream stats. */
  video?: {
    profile: { id: string; encoder: string; board: string } | null; recordingRoot: string; openSegments: number; segmentsClosed: number; net?: unknown;
    /** Per channel: recording, or why not (control/recordings.ts, from the recorders' `recording-state`). */
    recording?: Record<string, { state: string; reason: string | null; freeBytes: number | null }>;
    /** Catalog transitions waiting for room on the disk (replayed). */
    catalogDeferred?: number;
    /** video-encode's `encode-stats` per channel (edge/video/encode.ts EncoderStats). */
    encode?: unknown;
    /** net-send's uplink pairs (edge/net/uplink/pair-sender.ts PairStats). */
    uplink?: unknown;
    /** Latest still per channel (edge/control/stills.ts). */
    stills?: Record<string, { intervalS: number | null; ageMs: number | null; width: number | null; height: number | null; bytes: number | null }>;
  };
}

export function collectStatus(box: { id: string; room: string; startedMs: number }, health: HealthTable, rings: { spec: RingSpec; sab: SharedArrayBuffer }[], cpu?: CpuLatencyState): BoxStatus {
  return {
    box: { id: box.id, room: box.room, healthy: health.healthy, uptimeMs: Date.now() - box.startedMs, pid: process.pid },
    workers: WORKER_NAMES.map((w) => health.snapshot(w)),
    cpu,
    rings: rings.map(({ spec, sab }) => {
      if (isSlotRing(sab)) {
        const s = slotRingStats(sab);
        return {
          name: spec.name, type: 'slot' as const, producer: spec.producer, capacityBytes: s.slots * s.slotBytes,
          fill: s.fill, records: s.framesPublished, dropped: s.framesDropped,
          consumers: s.consumers.map((c) => ({ worker: spec.consumers[c.index] ?? `#${c.index}`, read: c.framesRead, overruns: c.overruns, lost: c.lost })),
        };
      }
      const s = ringStats(sab);
      return {
        name: spec.name, type: 'record' as const, producer: spec.producer, capacityBytes: s.capacity,
        fill: s.fill, records: s.recordsWritten,
        consumers: s.consumers.map((c) => ({ worker: spec.consumers[c.index] ?? `#${c.index}`, read: c.recordsRead, overruns: c.overruns, lost: c.lost })),
      };
    }),
  };
}

/** Human-readable status for a terminal. */
/** One uplink pair in `orbox status`: what it sends and why, what the receiver reports, repair. */
export function formatUplinkPair(u: PairStats): string[] {
  const rr = u.receiverReport;
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);
  const over = u.mediaBytes > 0 ? ((u.mediaBytes + u.rtxBytes + u.fecBytes) / u.mediaBytes).toFixed(2) : '-';
  return [
    `  uplink ${u.receiver} <- ${u.channel} (${u.to}${u.srtp ? ', SRTP' : ', NOT ENCRYPTED'}): sending ${u.sending ?? 'nothing yet'}; ${u.choice.reason}`,
    `    receiver reports: loss before repair ${pct(rr?.lossBeforeRepair)}, RTT ${rr?.rttMs ?? '-'} ms, jitter ${rr?.jitterMs ?? '-'} ms; ` +
      `${u.nacks} NACKs, ${u.rtxPackets} RTX, ${u.fecPackets} FEC packets, bytes sent / media ${over}` +
      `${u.rtxRateLimited ? `, ${u.rtxRateLimited} repairs over the cap` : ''}${Object.keys(u.srtpDrops).length ? `, SRTP drops ${JSON.stringify(u.srtpDrops)}` : ''}`,
    ...(u.audio ? [`    audio: ${u.audio.packets} Opus packets, ${u.audio.srs} SRs, ${u.audio.nacks} NACKs, ${u.audio.rtxPackets} RTX; receiver reports ${u.audio.receiverReport ? `${u.audio.receiverReport.cumulativeLost} lost before repair, jitter ${u.audio.receiverReport.jitterMs ?? '-'} ms` : 'none yet'}`] : []),
  ];
}

export function formatStatus(s: BoxStatus): string {
  const lines: string[] = [];
  lines.push(`box ${s.box.id}${s.box.room ? ` (${s.box.room})` : ''}: ${s.box.healthy ? 'healthy' : 'NOT HEALTHY'}, up ${Math.round(s.box.uptimeMs / 1000)} s`);
  if (s.cpu) {
    const c = s.cpu;
    lines.push(c.held ? `cpu wake-up latency: held at ${c.requestedUs} us` : c.requestedUs === null ? 'cpu wake-up latency: no request (cpu.wakeLatencyUs is null)' : `cpu wake-up latency: NOT HELD (${c.error}); ring hops wait on deep CPU idle states`);
  }
  lines.push('');
  lines.push(pad(['worker', 'state', 'restarts', 'heartbeat', 'last fault'], [14, 10, 9, 10, 12]));
  for (const w of s.workers) {
    lines.push(pad([w.name, w.stateName, String(w.restarts), `${w.heartbeatAgeMs} ms`, w.restarts ? w.lastFault : '-'], [14, 10, 9, 10, 12]));
  }
  if (s.video) {
    const p = s.video.profile;
    lines.push('');
    lines.push(`video: profile ${p ? `${p.id} (encoder ${p.encoder}, ${p.board})` : 'not probed yet'}; recording to ${s.video.recordingRoot}: ${s.video.openSegments} open, ${s.video.segmentsClosed} closed segments`);
    const net = Array.isArray(s.video.net) ? (s.video.net as { url: string; aus: number; srs: number; mounted?: boolean; mountError?: string | null; latencyMs: { p50: number; p99: number }; viewers?: ViewerReport[] }[]) : [];
    for (const n of net) {
      if (n.mountError) lines.push(`  ${n.url}  NOT PLAYABLE: mount failed: ${n.mountError}`);
      else lines.push(`  ${n.url}  ${n.aus} frames sent, ${n.srs} SRs, capture->RTP p50 ${n.latencyMs.p50} ms p99 ${n.latencyMs.p99} ms`);
      // What each viewer's receiver reports say (edge/rtp/receiver-reports.ts).
      for (const v of n.viewers ?? []) {
        const loss = v.intervalLoss ?? v.fractionLost;
        lines.push(`    viewer ${v.viewer || v.cname || v.ssrc.toString(16)}: loss ${(loss * 100).toFixed(1)}% (${v.cumulativeLost} lost), jitter ${v.jitterMs} ms, RTT ${v.rttMs ?? '-'} ms`);
      }
    }
    for (const u of (Array.isArray(s.video.uplink) ? s.video.uplink : []) as PairStats[]) lines.push(...formatUplinkPair(u));
    const enc = (s.video.encode ?? {}) as Record<string, { bitrateKbps?: { hq: number | null; lq: number | null } }>;
    for (const [ch, e] of Object.entries(enc)) {
      const b = e.bitrateKbps;
      const st = s.video.stills?.[ch];
      const still = !st ? 'no stills' : st.ageMs === null ? `stills every ${st.intervalS ?? '?'} s, none yet` : `still ${st.width}x${st.height} ${st.bytes} B, ${(st.ageMs / 1000).toFixed(1)} s old (every ${st.intervalS} s)`;
      lines.push(`  ${ch}: encoder hq ${b?.hq ?? '-'} kbit/s, lq ${b?.lq ?? '-'} kbit/s; ${still}`);
    }
    // A recording that stopped says why (a full disk names the folder and the free bytes).
    for (const [ch, r] of Object.entries(s.video.recording ?? {})) if (r.reason) lines.push(`  ${ch}: ${r.reason}`);
    if (s.video.catalogDeferred) lines.push(`  catalog: ${s.video.catalogDeferred} transitions wait for room on the disk`);
  }
  if (s.upload) {
    const u = s.upload;
    lines.push('');
    lines.push(`uploads: ${u.queued} waiting, ${u.verified} verified on the box, ${u.deletedLocal} deleted after verification${u.paused ? `; held: ${u.paused}` : ''}${u.lastError ? `; last error: ${u.lastError}` : ''}`);
    if (u.alarm) lines.push(`  STORAGE ALARM: ${u.alarm}`);
  }
  if (s.devices?.length) {
    lines.push('');
    for (const d of s.devices) {
      lines.push(`device ${d.name} (${d.protocol} on ${d.path}): ${d.state}${d.simulated ? '; SIMULATED: a demo simulator, no patient (samples flagged SIMULATED)' : ''}`);
    }
  }
  lines.push('');
  lines.push(pad(['ring', 'capacity', 'fill', 'records', 'consumers (read/overruns/lost)'], [22, 10, 6, 9, 40]));
  for (const r of s.rings) {
    const cons = r.consumers.map((c) => `${c.worker} ${c.read}/${c.overruns}/${c.lost}`).join(', ');
    lines.push(pad([r.name, human(r.capacityBytes), `${Math.round(r.fill * 100)}%`, String(r.records) + (r.dropped ? ` (-${r.dropped})` : ''), cons], [22, 10, 6, 9, 40]));
  }
  return lines.join('\n');
}

function pad(cols: string[], widths: number[]): string {
  return cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]))).join(' ').trimEnd();
}

function human(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MiB` : `${Math.round(n / 1024)} KiB`;
}

