/**
 * Running the system tools provisioning is built on (sfdisk, mkfs.*, mtools, debugfs, bmaptool,
 * openssl, lsblk), each as a child process with arguments, never through a shell.
 *
 * Errors: ToolError names the tool, its arguments and what it printed on stderr; a tool that is
 * not installed says which Debian package brings it.
 */
import { execFile } from 'node:child_process';

/** Debian package of each tool, for the "not installed" message (Makefile DEB_PACKAGES). */
const PACKAGE_OF: Record<string, string> = {
  sfdisk: 'fdisk', 'mkfs.ext4': 'e2fsprogs', debugfs: 'e2fsprogs', 'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools', mmd: 'mtools', bmaptool: 'bmap-tools', openssl: 'openssl', lsblk: 'util-linux',
  e2cp: 'e2tools',
};

export class ToolError extends Error {
  constructor(readonly tool: string, readonly args: readonly string[], readonly stderr: string, readonly code: number | string | null) {
    super(`${tool} ${args.join(' ')} failed${code !== null ? ` (exit ${code})` : ''}: ${stderr.trim().split('\n').slice(-4).join(' / ') || 'no message'}`);
    this.name = 'ToolError';
  }
}

export interface RunResult { stdout: Buffer; stderr: string }

/**
 * Runs `tool args`, resolving with its output when it exits 0. `input` is written to its stdin.
 * Default timeout 10 minutes (a flash of a large image may take that long, but nothing hangs forever).
 */
export function run(tool: string, args: readonly string[], opts: { input?: string | Buffer; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(tool, args, { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 600_000, cwd: opts.cwd }, (err, stdout, stderr) => {
      const errText = stderr.toString();
      if (err) {
        const e = err as NodeJS.ErrnoException & { code?: number | string };
        if (e.code === 'ENOENT') reject(new ToolError(tool, args, `not installed (Debian package ${PACKAGE_OF[tool] ?? tool})`, null));
        else reject(new ToolError(tool, args, errText || e.message, typeof e.code === 'number' ? e.code : (child.exitCode ?? e.code ?? null)));
        return;
      }
      resolve({ stdout, stderr: errText });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}
