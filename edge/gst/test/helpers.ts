/** Helpers shared by the edge/gst tests (not a test file itself). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Rejects with `what` if `p` does not settle within `ms` (generous deadlines only). */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`deadline of ${ms} ms passed: ${what}`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Number of decoded video frames of the first video stream of `path`, by ffprobe -count_frames. */
export async function ffprobeFrameCount(path: string): Promise<number> {
  const { stdout } = await run('ffprobe', [
    '-v', 'error', '-count_frames', '-select_streams', 'v:0',
    '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path,
  ]);
  return Number(stdout.trim());
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
