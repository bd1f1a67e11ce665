// Shared by the fleet tests: waiting on conditions and events without fixed sleeps.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Polls `pred` every 10 ms until true; rejects after `timeoutMs` with `what`. */
export async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface BoxChild {
  proc: ChildProcess;
  lines: string[];
  waitLine(re: RegExp, timeoutMs: number): Promise<string>;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

/** Starts test-rig/fleet/box-child.js with a FleetLink config. */
export function spawnBox(config: unknown): BoxChild {
  const script = fileURLToPath(new URL('../../../test-rig/fleet/box-child.js', import.meta.url));
  const proc = spawn(process.execPath, [script, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    lines,
    exited,
    async waitLine(re, timeoutMs) {
      await waitFor(() => lines.some((l) => re.test(l)), timeoutMs, `line ${re} from box child`);
      return lines.find((l) => re.test(l))!;
    },
  };
}
