/**
 * Recorded cases played in the browser: an HLS VOD playlist per (case, channel), one media
 * segment per recorded segment, each remuxed on request from Matroska to MPEG-TS by ffmpeg
 * (`-c copy`: no re-encode; this Chromium's MSE takes neither Matroska nor, without help,
 * MPEG-TS, so the page's hls.js transmuxes TS to fragmented MP4 as it appends).
 *
 * Why TS with the recording's own timestamps (`-copyts`): segments of one recording share a
 * PTS timeline (edge/video/recorder.ts), so consecutive media segments join without a
 * discontinuity; a new recording (after a stop or a box restart) starts its timeline again at
 * 0, and the playlist says so (`#EXT-X-DISCONTINUITY`). The subtitle track is left out (TS
 * carries no text): the page draws the vitals from the vitals tracks under the videos.
 *
 * Contract: hlsPlaylist() is pure; remuxToTs() streams ffmpeg's stdout into the response and
 * kills ffmpeg when the client goes away. Errors: ffmpeg's failure before any byte answers 502
 * with its last words; after the first byte the response is cut (the player retries).
 * Runs on: control (the web console).
 */
import { spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import type { MediaSegment } from '../control/case-media.js';

/** The VOD playlist of one channel's segments; `uri(id)` names a segment's media. */
export function hlsPlaylist(segments: readonly MediaSegment[], uri: (id: number) => string): string {
  const dur = (s: MediaSegment): number => Number(BigInt(s.endNs) - BigInt(s.startNs)) / 1e9;
  const target = Math.max(1, ...segments.map((s) => Math.ceil(dur(s))));
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${target}`, '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:VOD'];
  segments.forEach((s, i) => {
    if (i > 0 && s.recording !== segments[i - 1]!.recording) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXTINF:${dur(s).toFixed(3)},`, uri(s.id));
  });
  lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

/** Streams `path` (a recorded segment) as MPEG-TS, video and audio as recorded. */
export function remuxToTs(path: string, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const ff = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-copyts', '-i', path,
      '-map', '0:v:0', '-map', '0:a?', '-c', 'copy', '-f', 'mpegts', '-muxdelay', '0', '-muxpreload', '0', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let started = false;
    ff.stderr.on('data', (d: Buffer) => { if (err.length < 2000) err += d.toString(); });
    ff.stdout.on('data', (d: Buffer) => {
      if (!started) { started = true; res.writeHead(200, { 'Content-Type': 'video/mp2t', 'Cache-Control': 'private, max-age=3600' }); }
      if (!res.write(d)) { ff.stdout.pause(); res.once('drain', () => ff.stdout.resume()); }
    });
    res.on('close', () => { if (ff.exitCode === null) ff.kill('SIGKILL'); });
    ff.on('error', (e) => { err += e.message; });
    ff.on('close', (code) => {
      if (!started) {
        res.writeHead(502, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: `remux failed (ffmpeg ${code}): ${err.trim().split('\n').slice(-2).join(' | ')}` }));
      } else if (code === 0) res.end();
      else res.destroy();
      resolve();
    });
  });
}
