/**
 * Files in an ext4 filesystem inside a disk image or block device, read and written without
 * mounting (provisioning runs as a bench user, on machines where loop mounts may be missing),
 * through e2fsprogs' debugfs at a byte offset (`debugfs 'disk?offset=N'`).
 *
 * Ext4At owns nothing: each call runs debugfs once and leaves the filesystem closed and
 * consistent. Writes replace a file whole and set its mode, owner and group. Paths are
 * absolute inside the filesystem.
 *
 * Errors: Ext4Error names the disk, the offset and the file; debugfs reports some failures only
 * on stderr with exit 0, so writes are checked by reading back what was written.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './tools.js';

export class Ext4Error extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'Ext4Error';
  }
}

export interface Ext4File {
  /** Absolute path inside the filesystem, e.g. /orbox/config.yaml. */
  path: string;
  content: string | Buffer;
  /** Permission bits, e.g. 0o600. */
  mode: number;
  uid: number;
  gid: number;
}

export interface Ext4Stat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  type: 'regular' | 'directory' | 'other';
}

const SAFE_PATH = /^(\/[A-Za-z0-9._-]+)+$/;

export class Ext4At {
  private readonly spec: string;

  /** `disk`: image file or block device; `offset`: byte offset of the filesystem in it. */
  constructor(readonly disk: string, readonly offset: number) {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`ext4 offset must be a byte count >= 0, got ${offset}`);
    this.spec = `${disk}?offset=${offset}`;
  }

  private where(path = ''): string {
    return `${this.disk} (ext4 at byte ${this.offset})${path ? ` ${path}` : ''}`;
  }

  private static check(path: string): void {
    // debugfs parses its command line: keep paths to characters it takes literally.
    if (!SAFE_PATH.test(path)) throw new RangeError(`ext4 path must be absolute, of letters, digits, . _ -: ${JSON.stringify(path)}`);
  }

  /** The contents of `path`; Ext4Error when it does not exist or is not a regular file. */
  async read(path: string): Promise<Buffer> {
    Ext4At.check(path);
    const st = await this.stat(path);
    if (!st) throw new Ext4Error(this.where(path), 'no such file');
    if (st.type !== 'regular') throw new Ext4Error(this.where(path), 'not a regular file');
    const { stdout } = await run('debugfs', ['-R', `cat ${path}`, this.spec]);
    if (stdout.length !== st.size) throw new Ext4Error(this.where(path), `read ${stdout.length} bytes, inode says ${st.size}`);
    return stdout;
  }

  /** Mode, owner and size of `path`, or undefined when it does not exist. */
  async stat(path: string): Promise<Ext4Stat | undefined> {
    Ext4At.check(path);
    const { stdout, stderr } = await run('debugfs', ['-R', `stat ${path}`, this.spec]);
    const text = stdout.toString();
    if (/File not found/.test(stderr) || !/Inode:/.test(text)) return undefined;
    const num = (re: RegExp): number => {
      const m = re.exec(text);
      if (!m) throw new Ext4Error(this.where(path), `cannot read ${re.source} from debugfs stat`);
      return Number(m[1]);
    };
    const typeM = /Type: (\w+)/.exec(text);
    return {
      mode: parseInt(/Mode:\s+0?([0-7]+)/.exec(text)?.[1] ?? 'x', 8),
      uid: num(/User:\s+(\d+)/),
      gid: num(/Group:\s+(\d+)/),
      size: num(/Size:\s+(\d+)/),
      type: typeM?.[1] === 'regular' ? 'regular' : typeM?.[1] === 'directory' ? 'directory' : 'other',
    };
  }

  /**
   * Writes `files` (replacing any that exist), creating their folders with `dirMode` and the
   * first file's owner. One debugfs run; then each file is read back and compared.
   */
  async write(files: readonly Ext4File[], dirMode = 0o750): Promise<void> {
    if (!files.length) return;
    const tmp = mkdtempSync(join(tmpdir(), 'orbox-ext4-'));
    try {
      const script: string[] = [];
      const dirs = new Set<string>();
      for (const f of files) {
        Ext4At.check(f.path);
        const parts = f.path.split('/').slice(1, -1);
        for (let i = 1; i <= parts.length; i++) dirs.add('/' + parts.slice(0, i).join('/'));
      }
      for (const d of [...dirs].sort()) {
        const st = await this.stat(d);
        if (st && st.type !== 'directory') throw new Ext4Error(this.where(d), 'exists and is not a directory');
        if (!st) {
          script.push(`mkdir ${d}`);
          script.push(`set_inode_field ${d} mode 040${dirMode.toString(8).padStart(3, '0')}`);
          script.push(`set_inode_field ${d} uid ${files[0]!.uid}`, `set_inode_field ${d} gid ${files[0]!.gid}`);
        }
      }
      for (const [i, f] of files.entries()) {
        // The staged copy is private to us (0600 in a 0700 temp dir): it may be a private key.
        const local = join(tmp, String(i));
        writeFileSync(local, f.content, { mode: 0o600 });
        if (await this.stat(f.path)) script.push(`rm ${f.path}`);
        script.push(`write ${local} ${f.path}`);
        script.push(`set_inode_field ${f.path} mode 0100${f.mode.toString(8).padStart(3, '0')}`);
        script.push(`set_inode_field ${f.path} uid ${f.uid}`, `set_inode_field ${f.path} gid ${f.gid}`);
      }
      const cmdFile = join(tmp, 'cmds');
      writeFileSync(cmdFile, script.join('\n') + '\n');
      await run('debugfs', ['-w', '-f', cmdFile, this.spec]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    for (const f of files) {
      const st = await this.stat(f.path);
      if (!st) throw new Ext4Error(this.where(f.path), 'not there after writing');
      if ((st.mode & 0o7777) !== f.mode || st.uid !== f.uid || st.gid !== f.gid) {
        throw new Ext4Error(this.where(f.path), `written as mode ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}, wanted ${f.mode.toString(8)} ${f.uid}:${f.gid}`);
      }
      const back = await this.read(f.path);
      if (!back.equals(Buffer.from(f.content))) throw new Ext4Error(this.where(f.path), 'reads back different from what was written');
    }
  }
}
