/**
 * Files of saved stills: where a JPEG still goes and how it is written so that a power cut
 * leaves either the whole file or none.
 *
 *   <root>/<channel>/<yyyymmdd>/<channel>-<yyyymmddTHHMMSS.mmmZ>-still.jpg
 *
 * Next to the channel's segments (same day folder, named by the UTC capture time of the frame
 * it shows, box clock, ms precision), so a case's pictures and video are found together and an
 * export copies one folder. The name never matches a segment's (`parseSegmentPath` ignores
 * it), so orphan adoption leaves stills alone. The same still saved twice has the same path.
 *
 * Write: a temporary file in the same folder, fsync, rename over the final name, fsync of the
 * folder (rename is atomic within a file system; the folder fsync makes the new entry durable).
 *
 * Runs on: control. Errors: RangeError for a bad channel name; fs errors as thrown by node.
 */
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CHANNEL_RE, fsyncDir, parseUtcStamp, prepareRecordingDir, utcStamp } from './naming.js';

/** Path of the still of `channel` captured at `captureNs`. */
export function stillPath(root: string, channel: string, captureNs: bigint): string {
  if (!CHANNEL_RE.test(channel)) throw new RangeError(`channel "${channel}" must match ${CHANNEL_RE}`);
  const stamp = utcStamp(captureNs);
  return join(root, channel, stamp.slice(0, 8), `${channel}-${stamp}-still.jpg`);
}

/** Channel and capture time (ms precision) of a still's path; null if it is not one. */
export function parseStillPath(path: string): { channel: string; captureNs: bigint } | null {
  const m = /^([a-z0-9][a-z0-9-]{0,31})-(\d{8}T\d{6}\.\d{3}Z)-still\.jpg$/.exec(basename(path));
  if (!m) return null;
  const ns = parseUtcStamp(m[2]);
  return ns === null ? null : { channel: m[1], captureNs: ns };
}

/** Writes `bytes` to `path` durably (see the module header); creates the folders. */
export async function writeStillFile(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await prepareRecordingDir(dir);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dir);
}
