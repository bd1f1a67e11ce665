/**
 * Flashing an image onto a target (a block device, or an image file for tests and for
 * rpiboot/uuu workflows that take one) with `bmaptool copy`, which writes only the mapped
 * blocks and verifies each range's checksum from the bmap as it writes.
 *
 * Before any byte is written, checkTarget() refuses:
 *  - a target that is mounted, or has a mounted partition, or is used as swap (from
 *    /proc/mounts, /proc/swaps and lsblk), or an image file that backs a loop device;
 *  - the disk the running system lives on (the disk holding /, /boot, /usr or /var);
 *  - a folder, a character device, the image itself.
 * bmaptool refuses a mounted target too; our check comes first so that the message says what
 * holds it, and covers partitions of the target, which bmaptool does not look at.
 *
 * Progress: bmaptool prints its percentage only when stdout and stderr are a terminal, so it
 * runs under `script` (util-linux) on a pseudo-terminal and its "N% copied" lines are read.
 * (Its --psplash-pipe output would be the tidier channel, but bmap-tools 3.6 crashes on it:
 * `NameError: name 'pipe' is not defined` in BmapCopy.set_psplash_pipe.)
 *
 * Errors: TargetRefused (what and why), ToolError from bmaptool (a checksum mismatch is
 * reported there as a failed verification).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ToolError, run } from './tools.js';

export class TargetRefused extends Error {
  constructor(readonly target: string, readonly reason: string) {
    super(`refusing to flash ${target}: ${reason}`);
    this.name = 'TargetRefused';
  }
}

export interface MountEntry { source: string; mountPoint: string }

/** /proc/mounts, decoded (octal escapes such as \040 for a space). */
export function readMounts(file = '/proc/mounts'): MountEntry[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [source = '', mountPoint = ''] = l.split(' ');
    return { source: unescape(source), mountPoint: unescape(mountPoint) };
  });
}

function real(p: string): string {
  try { return realpathSync(p); } catch { return p; }
}

interface LsblkDev { name: string; path: string; type: string; pkname?: string | null; mountpoints?: (string | null)[]; children?: LsblkDev[] }

async function lsblk(dev?: string): Promise<LsblkDev[]> {
  const { stdout } = await run('lsblk', ['-J', '-p', '-o', 'NAME,PATH,TYPE,PKNAME,MOUNTPOINTS', ...(dev ? [dev] : [])]);
  return (JSON.parse(stdout.toString()) as { blockdevices: LsblkDev[] }).blockdevices;
}

function flatten(devs: LsblkDev[], out: LsblkDev[] = []): LsblkDev[] {
  for (const d of devs) { out.push(d); if (d.children) flatten(d.children, out); }
  return out;
}

export interface TargetInfo {
  /** The resolved path. */
  path: string;
  kind: 'block' | 'file';
  /** Bytes (0 for a file that does not exist yet). */
  size: number;
}

const SYSTEM_MOUNTS = ['/', '/boot', '/boot/efi', '/usr', '/var'];

/** Checks that `target` may be flashed with `image`; throws TargetRefused saying why not. */
export async function checkTarget(target: string, image: string, opts: { mountsFile?: string } = {}): Promise<TargetInfo> {
  const mounts = readMounts(opts.mountsFile);
  const path = real(target);
  if (path === real(image)) throw new TargetRefused(target, 'it is the image itself');
  const listed = mounts.find((m) => real(m.source) === path || real(m.mountPoint) === path || m.source === target || m.mountPoint === target);
  if (listed) throw new TargetRefused(target, `it is mounted (/proc/mounts: ${listed.source} on ${listed.mountPoint})`);

  if (!existsSync(path)) {
    if (!existsSync(dirname(path))) throw new TargetRefused(target, `its folder ${dirname(path)} does not exist`);
    return { path, kind: 'file', size: 0 };
  }
  const st = statSync(path);
  if (st.isDirectory()) throw new TargetRefused(target, 'it is a folder');
  if (st.isFile()) {
    // An image file attached to a loop device may be mounted through it.
    const { stdout } = await run('losetup', ['-j', path]).catch(() => ({ stdout: Buffer.alloc(0) }));
    const loops = stdout.toString().split('\n').filter(Boolean).map((l) => l.split(':')[0]!);
    if (loops.length) throw new TargetRefused(target, `it backs loop device ${loops.join(', ')} (detach it first: losetup -d)`);
    return { path, kind: 'file', size: st.size };
  }
  if (!st.isBlockDevice()) throw new TargetRefused(target, 'it is neither a block device nor a regular file');

  const tree = flatten(await lsblk(path));
  const disk = tree[0];
  if (!disk) throw new TargetRefused(target, 'lsblk does not know it');
  if (disk.type === 'part') throw new TargetRefused(target, `it is a partition; flash the whole disk (${disk.pkname ?? 'its parent'})`);
  const mountedHere = tree.flatMap((d) => (d.mountpoints ?? []).filter((m): m is string => Boolean(m)).map((m) => `${d.path} on ${m}`));
  const inProcMounts = mounts.filter((m) => tree.some((d) => real(m.source) === real(d.path))).map((m) => `${m.source} on ${m.mountPoint}`);
  const swaps = existsSync('/proc/swaps') ? readFileSync('/proc/swaps', 'utf8').split('\n').slice(1).map((l) => l.split(/\s+/)[0]!).filter((s) => s && tree.some((d) => real(s) === real(d.path))) : [];
  const held = [...new Set([...mountedHere, ...inProcMounts, ...swaps.map((s) => `${s} as swap`)])];
  if (held.length) {
    const system = held.some((h) => SYSTEM_MOUNTS.some((m) => h.endsWith(` on ${m}`)));
    throw new TargetRefused(target, `${system ? 'it is the system disk: ' : ''}in use (${held.join('; ')})`);
  }
  // The disk of / even when / is on a device-mapper or md layer above it.
  const root = mounts.find((m) => m.mountPoint === '/');
  if (root?.source.startsWith('/dev/')) {
    const all = flatten(await lsblk());
    const walkUp = (p: string, seen = new Set<string>()): string[] => {
      if (seen.has(p)) return [];
      seen.add(p);
      const parents = all.filter((d) => d.path === p).map((d) => d.pkname).filter((x): x is string => Boolean(x));
      return [p, ...parents.flatMap((q) => walkUp(q, seen))];
    };
    if (walkUp(real(root.source)).map(real).includes(path)) throw new TargetRefused(target, `it is the system disk (holds / from ${root.source})`);
  }
  const fd = openSync(path, 'r');
  closeSync(fd);
  const { stdout } = await run('lsblk', ['-b', '-d', '-n', '-o', 'SIZE', path]);
  return { path, kind: 'block', size: Number(stdout.toString().trim()) };
}

export interface FlashResult {
  target: TargetInfo;
  /** What bmaptool said at the end (its "copying time" line: bytes, speed). */
  summary: string;
  ms: number;
}

/** Quotes one argument for the `sh -c` that `script -c` runs. */
const shQuote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * Flashes `image` (with `bmap`) to `target` after checkTarget(); `onProgress` gets 0..100.
 * bmaptool verifies every mapped range as it writes; a mismatch fails the copy.
 */
export async function flashImage(image: string, bmap: string, target: string, onProgress: (percent: number) => void = () => {}, opts: { mountsFile?: string } = {}): Promise<FlashResult> {
  const info = await checkTarget(target, image, opts);
  const args = ['copy', '--bmap', bmap, image, info.path];
  const t0 = Date.now();
  const text = await new Promise<string>((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-f', '-c', ['bmaptool', ...args].map(shQuote).join(' '), '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let all = '';
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      const s = d.toString();
      all = (all + s).slice(-16_000);
      pending += s;
      const lines = pending.split(/[\r\n]+/);
      pending = lines.pop() ?? '';
      for (const l of lines) {
        const m = /(\d+)% copied/.exec(l);
        if (m) onProgress(Math.min(100, Number(m[1])));
      }
    });
    child.stderr.on('data', (d: Buffer) => { all = (all + d.toString()).slice(-16_000); });
    child.once('error', (e: NodeJS.ErrnoException) => reject(new ToolError('script', args, e.code === 'ENOENT' ? 'not installed (Debian package bsdutils)' : e.message, null)));
    child.once('close', (code) => {
      // The pty turns \n into \r\n and bmaptool moves the cursor: keep plain lines.
      const clean = all.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').split(/\r?\n|\r/).map((l) => l.trim()).filter(Boolean).join('\n');
      if (code === 0) resolve(clean);
      else reject(new ToolError('bmaptool', args, clean, code));
    });
  });
  // On a disk larger than the image the backup GPT sits inside the disk, not at its end: move it
  // there, or firmware and the kernel complain (and repair it at their own moment).
  if (info.kind === 'block') await run('sfdisk', ['--relocate', 'gpt-bak-std', info.path]);
  onProgress(100);
  const summary = text.split('\n').filter((l) => /copying time|synchroniz/.test(l)).map((l) => l.replace(/^bmaptool: info: /, '')).join('; ');
  return { target: info, summary, ms: Date.now() - t0 };
}
