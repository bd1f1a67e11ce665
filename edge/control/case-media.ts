/**
 * A recorded case as the web console plays it (issue #18): its channels' closed segments in
 * order, each with its times on the box clock and the recording it belongs to (segments of one
 * recording share a PTS timeline; a new recording, after a stop or a restart, starts its own),
 * and the monitors' numerics over the case from the vitals tracks.
 *
 * Contract: reads the catalog (control's, open) and the vitals tracks; no paths leave through
 * caseMedia() (the page gets segment ids; segmentPath() resolves an id to its file only for a
 * segment of that case that is closed and on disk). Errors: CaseMediaError naming the case or
 * segment that is not there.
 * Runs on: control (the web console's backend).
 */
import { existsSync } from 'node:fs';
import type { Catalog, SegmentRecord } from '../recording/index.js';
import { parseSegmentPath } from '../recording/index.js';
import { vitalsBetween } from './case-export.js';

export class CaseMediaError extends Error {
  constructor(message: string) { super(message); this.name = 'CaseMediaError'; }
}

export interface MediaSegment {
  id: number;
  /** Box wall ns of its first frame, and of the next segment's (its end). */
  startNs: string;
  endNs: string;
  /** Name stamp of its recording (UTC ms): segments with the same one share a timeline. */
  recording: string;
}

export interface CaseMedia {
  case: { id: number; uid: string; state: string; startNs: string; endNs: string | null };
  channels: { channel: string; segments: MediaSegment[] }[];
}

const playable = (s: SegmentRecord): boolean => (s.state === 'closed' || s.state === 'recovered') && s.endNs !== null && !s.path.endsWith('.ovt') && existsSync(s.path);

export function caseMedia(cat: Catalog, caseId: number): CaseMedia {
  const c = cat.getCase(caseId);
  if (!c) throw new CaseMediaError(`no case ${caseId} in the catalog`);
  const byChannel = new Map<string, MediaSegment[]>();
  const segs = cat.segmentsOfCase(caseId).filter(playable).sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : a.seq - b.seq));
  for (const s of segs) {
    const name = parseSegmentPath(s.path);
    if (!name) continue;
    let list = byChannel.get(s.channel);
    if (!list) byChannel.set(s.channel, (list = []));
    list.push({ id: s.id, startNs: String(s.startNs), endNs: String(s.endNs), recording: String(name.recordingStartNs / 1_000_000n) });
  }
  return {
    case: { id: c.id, uid: c.uid, state: c.state, startNs: String(c.startNs), endNs: c.endNs === null ? null : String(c.endNs) },
    channels: [...byChannel].sort(([a], [b]) => a.localeCompare(b)).map(([channel, segments]) => ({ channel, segments })),
  };
}

/** The file of segment `segmentId` of case `caseId`, when it is closed and on disk. */
export function segmentPath(cat: Catalog, caseId: number, segmentId: number): string {
  const s = cat.segmentsOfCase(caseId).find((x) => x.id === segmentId);
  if (!s) throw new CaseMediaError(`segment ${segmentId} is not one of case ${caseId}'s`);
  if (!playable(s)) throw new CaseMediaError(`segment ${segmentId} of case ${caseId} is ${existsSync(s.path) ? s.state : 'no longer on the box'}`);
  return s.path;
}

/** The case's numerics (waves, alarms and gaps left out), per port/label, ms since the case began. */
export function caseVitals(dataDir: string, media: CaseMedia, nowNs: bigint): { series: Record<string, { unit: string; t: number[]; v: (number | null)[] }> } {
  const from = BigInt(media.case.startNs);
  const to = media.case.endNs === null ? nowNs : BigInt(media.case.endNs);
  const series: Record<string, { unit: string; t: number[]; v: (number | null)[] }> = {};
  for (const s of vitalsBetween(dataDir, from, to)) {
    if (s.kind !== 'numeric' || !s.label) continue;
    const k = `${s.port}/${s.label}`;
    const h = (series[k] ??= { unit: s.unit, t: [], v: [] });
    h.t.push(Number((s.hostWallNs - from) / 1_000_000n));
    h.v.push(s.value !== undefined && Number.isFinite(s.value) ? s.value : null);
  }
  return { series };
}
