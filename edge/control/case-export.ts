/**
 * `orbox case export`: one file per channel for a recorded case, for teaching and the video
 * platform's editor (issue #20): the case's segments of the channel joined without re-encoding
 * (ffmpeg's concat demuxer, `-c copy`: video and the channel's audio as recorded), plus the
 * patient monitors' numerics as a text subtitle track on the same clock (WebVTT cues from the
 * vitals tracks, edge/devices/export.ts, muxed as SubRip so any player and ffplay's
 * `-vf subtitles=` draw them), and `manifest.json` with each file's SHA-256 and the segments it
 * came from (their SHA-256 too).
 *
 * Reads the catalog (SQLite, read-only; the box may be running: WAL readers do not block it)
 * and the vitals tracks under `<dataDir>/vitals/` whose samples fall inside the case. Writes
 * only under `outDir`. Runs in the CLI's process, not on the box's workers.
 * Errors: ExportError naming the case, channel or file; a channel with no readable segment is
 * skipped and said so in the manifest; nothing half-written is left under a final name (ffmpeg
 * writes to a temporary name, renamed when it succeeded).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readVitalsTrack, toWebVtt, type VitalSample } from '../devices/index.js';
import { Catalog, type SegmentRecord } from '../recording/index.js';

export class ExportError extends Error {
  constructor(message: string) { super(message); this.name = 'ExportError'; }
}

export interface ExportedFile {
  channel: string;
  file: string;
  bytes: number;
  sha256: string;
  segments: { path: string; bytes: number; sha256: string }[];
  vitalsCues: number;
}

export interface ExportManifest {
  case: string;
  boxId: string;
  startUtc: string;
  endUtc: string | null;
  files: ExportedFile[];
  skipped: { channel: string; reason: string }[];
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

/** Every vitals sample (not waves) of the tracks under `<dataDir>/vitals` inside [from, to]. */
export function vitalsBetween(dataDir: string, fromNs: bigint, toNs: bigint): VitalSample[] {
  const root = join(dataDir, 'vitals');
  if (!existsSync(root)) return [];
  const out: VitalSample[] = [];
  const fromDay = iso(fromNs).slice(0, 10).replace(/-/g, '');
  for (const day of readdirSync(root).sort()) {
    // A track starts in its day folder and may run past midnight: the day before the case counts too.
    if (!/^\d{8}$/.test(day) || day > iso(toNs).slice(0, 10).replace(/-/g, '')) continue;
    if (Number(day) < Number(fromDay) - 1) continue;
    for (const f of readdirSync(join(root, day))) {
      if (!f.endsWith('.ovt')) continue;
      for (const s of readVitalsTrack(join(root, day, f)).samples) {
        if (s.kind !== 'wave' && s.hostWallNs >= fromNs && s.hostWallNs <= toNs) out.push(s);
      }
    }
  }
  return out;
}

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { if (err.length < 4000) err += d.toString(); });
    p.on('error', (e) => reject(new ExportError(`ffmpeg: ${e.message}`)));
    p.on('exit', (c) => (c === 0 ? resolve() : reject(new ExportError(`ffmpeg exited ${c}: ${err.trim().split('\n').slice(-2).join(' | ')}`))));
  });
}

export async function exportCase(o: { dataDir: string; boxId: string; caseUid: string; outDir: string }): Promise<ExportManifest> {
  const dbPath = join(o.dataDir, 'catalog.db');
  if (!existsSync(dbPath)) throw new ExportError(`no catalog at ${dbPath}`);
  const cat = new Catalog({ path: dbPath, busyTimeoutMs: 2000 });
  cat.open();
  let segs: SegmentRecord[];
  let c;
  try {
    c = cat.listCases(0n, 1n << 62n).find((x) => x.uid === o.caseUid);
    if (!c) throw new ExportError(`no case "${o.caseUid}" in ${dbPath}`);
    // Vitals tracks are catalogued too (`.ovt`); they are read below by time, not joined.
    segs = cat.segmentsOfCase(c.id).filter((s) => !s.path.endsWith('.ovt'));
  } finally {
    cat.close();
  }
  mkdirSync(o.outDir, { recursive: true });
  const manifest: ExportManifest = { case: c.uid, boxId: o.boxId, startUtc: iso(c.startNs), endUtc: c.endNs === null ? null : iso(c.endNs), files: [], skipped: [] };
  const channels = [...new Set(segs.map((s) => s.channel))].sort();
  for (const ch of channels) {
    const mine = segs.filter((s) => s.channel === ch && (s.state === 'closed' || s.state === 'recovered') && existsSync(s.path) && statSync(s.path).size > 0)
      .sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : a.seq - b.seq));
    if (mine.length === 0) { manifest.skipped.push({ channel: ch, reason: 'no closed segment on disk (uploaded and deleted, or lost)' }); continue; }
    const name = `${c.uid}-${ch}.mkv`;
    const tmp = join(o.outDir, `.${name}.part.mkv`);
    const list = join(o.outDir, `.${ch}.concat`);
    writeFileSync(list, mine.map((s) => `file '${s.path.replace(/'/g, "'\\''")}'`).join('\n') + '\n');
    const start = mine[0]!.startNs;
    const end = mine[mine.length - 1]!.endNs ?? c.endNs ?? start;
    const vtt = toWebVtt(vitalsBetween(o.dataDir, start, end), { videoStartWallNs: start });
    const cues = (vtt.match(/ --> /g) ?? []).length;
    const vttPath = join(o.outDir, `.${ch}.vtt`);
    writeFileSync(vttPath, vtt);
    try {
      await ffmpeg(['-y', '-f', 'concat', '-safe', '0', '-i', list, ...(cues ? ['-i', vttPath] : []),
        // The segments' own text track (a cue per frame) is left out: the export's cues, one
        // per change at 1 s steps from the vitals tracks, suit an editor's timeline better.
        '-map', '0:v', '-map', '0:a?', ...(cues ? ['-map', '1', '-c:s', 'srt', '-metadata:s:s:0', 'title=vitals', '-metadata:s:s:0', 'language=und'] : []),
        '-c:v', 'copy', '-c:a', 'copy', '-metadata', `title=${c.uid} ${ch}`, tmp]);
      renameSync(tmp, join(o.outDir, name));
    } finally {
      rmSync(list, { force: true });
      rmSync(vttPath, { force: true });
      rmSync(tmp, { force: true });
    }
    const file = join(o.outDir, name);
    manifest.files.push({
      channel: ch, file: name, bytes: statSync(file).size, sha256: await sha256File(file), vitalsCues: cues,
      segments: await Promise.all(mine.map(async (s) => ({ path: s.path, bytes: statSync(s.path).size, sha256: await sha256File(s.path) }))),
    });
  }
  writeFileSync(join(o.outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
