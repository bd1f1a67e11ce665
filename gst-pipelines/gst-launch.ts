/**
 * gst-launch-1.0 and gst-inspect-1.0 as child processes: element existence, parse checks,
 * short trial runs.
 *
 * Owns: the child processes it starts; each call kills its own child (by pid) on timeout or
 * once it has what it needs, and never outlives its promise.
 *
 * Used by: the profile probe (video-encode, once at start, result cached) and tests, where
 * gst-launch-1.0 stands in for the in-process pipeline. Errors: none thrown for a failing
 * pipeline (it is a result); spawn failures reject.
 */
import { spawn } from 'node:child_process';
import { toLaunchArgv } from './launch.js';

export interface LaunchResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface LaunchOptions {
  /** Kill the child after this long. Default 20 s. */
  readonly timeoutMs?: number;
  /** Extra gst-launch-1.0 flags before the description (e.g. `-e`, `-m`). */
  readonly flags?: readonly string[];
}

/** Runs a description to completion with gst-launch-1.0 (`-e`: EOS on interrupt). */
export function runLaunch(description: string, opts: LaunchOptions = {}): Promise<LaunchResult> {
  const argv = [...(opts.flags ?? ['-e']), ...toLaunchArgv(description)];
  return new Promise((resolve, reject) => {
    const child = spawn('gst-launch-1.0', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs ?? 20_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, timedOut }); });
  });
}

export interface ParseCheck {
  readonly ok: boolean;
  /** gst-launch's complaint when not ok (`erroneous pipeline: no element "foo"`). */
  readonly error?: string;
}

/**
 * Checks that a description parses (elements exist, properties exist and take the values,
 * links are possible) without running it: gst-launch prints "Setting pipeline to PAUSED"
 * only after a successful parse, and the child is killed there.
 */
export function parseCheck(description: string, timeoutMs = 10_000): Promise<ParseCheck> {
  const argv = toLaunchArgv(description);
  return new Promise((resolve, reject) => {
    const child = spawn('gst-launch-1.0', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const finish = (r: ParseCheck): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve(r);
    };
    const onData = (d: string): void => {
      out += d;
      const m = /erroneous pipeline: ([^\n]*)/.exec(out);
      if (m) finish({ ok: false, error: m[1] });
      else if (out.includes('Setting pipeline to PAUSED')) finish({ ok: true });
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    const timer = setTimeout(() => finish({ ok: false, error: `no verdict within ${timeoutMs} ms` }), timeoutMs);
    child.on('error', (e) => { if (!done) { done = true; clearTimeout(timer); reject(e); } });
    child.on('close', () => finish(out.includes('Setting pipeline to PAUSED') ? { ok: true } : { ok: false, error: out.trim().split('\n').pop() ?? 'exited' }));
  });
}

/** `gst-inspect-1.0 --exists <factory>`: does the element factory exist in the registry? */
export function factoryExists(factory: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('gst-inspect-1.0', ['--exists', factory], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => resolve(code === 0));
  });
}

/** `gst-inspect-1.0 --version`, first two lines (for cache keys and reports). */
export function gstVersion(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('gst-inspect-1.0', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.on('error', reject);
    child.on('close', () => resolve(out.split('\n').slice(0, 2).join(' ').trim()));
  });
}
