/**
 * Pseudo-terminal pairs for the device simulators: socat joins two ptys and gives them stable
 * link names, `<dir>/box` (the box opens it as its serial port) and `<dir>/device` (the
 * simulator's end). Pulling the cable kills socat, so both ends see the port vanish exactly as a
 * USB-serial adapter pulled out; replugging starts a new socat on the same link names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** The box end (give this to DeviceDataService as the port path). */
  readonly boxPath: string;
  /** The simulator's end. */
  readonly devicePath: string;
  /** Kill socat: both ends go away. */
  pull(): Promise<void>;
  /** Start socat again on the same link names. */
  replug(): Promise<void>;
  /** Stop socat and remove the directory. Idempotent. */
  close(): Promise<void>;
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function createPtyPair(dir = mkdtempSync(join(tmpdir(), 'orbox-pty-'))): Promise<PtyPair> {
  const boxPath = join(dir, 'box');
  const devicePath = join(dir, 'device');
  let proc: ChildProcess | undefined;
  let closed = false;

  const startSocat = async () => {
    const p = spawn('socat', [`pty,raw,echo=0,link=${boxPath}`, `pty,raw,echo=0,link=${devicePath}`], { stdio: 'ignore' });
    proc = p;
    let exited = false;
    p.on('exit', () => (exited = true));
    await waitFor(() => exited || (existsSync(boxPath) && existsSync(devicePath)), 5000, 'socat pty links');
    if (exited) throw new Error('socat exited at start (is socat installed?)');
  };

  const stopSocat = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    await gone;
    await waitFor(() => !existsSync(boxPath) && !existsSync(devicePath), 2000, 'pty links removed').catch(() => {});
  };

  await startSocat();
  return {
    boxPath,
    devicePath,
    pull: stopSocat,
    replug: async () => {
      if (closed) throw new Error('pty pair closed');
      await startSocat();
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await stopSocat();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
