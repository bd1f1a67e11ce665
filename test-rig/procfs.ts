/**
 * The machine's process table read from /proc, for tests and benches that measure or find the
 * box's processes (CPU of a process tree, RSS and descriptors, a child by its command line).
 * Linux only; a process that exits while the table is read is left out.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface ProcEntry {
  pid: number;
  ppid: number;
  /** User + system CPU seconds so far. */
  cpuS: number;
  /** The command line, arguments joined by spaces. */
  cmdline: string;
}

export function processTable(): ProcEntry[] {
  const out: ProcEntry[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      // Fields after the command name, which may itself hold spaces and parentheses.
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid: Number(d), ppid: Number(f[1]), cpuS: (Number(f[11]) + Number(f[12])) / TICK, cmdline });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** `pid` and every process below it. */
export function processTree(pid: number, table = processTable()): ProcEntry[] {
  const kids = new Map<number, ProcEntry[]>();
  for (const p of table) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
  const out: ProcEntry[] = [];
  const walk = (p: ProcEntry | undefined): void => { if (!p) return; out.push(p); for (const k of kids.get(p.pid) ?? []) walk(k); };
  walk(table.find((p) => p.pid === pid));
  return out;
}

/** Resident memory (MB) and open descriptors of one process, or null when it is gone. */
export function memoryAndFds(pid: number): { rssMb: number; fds: number } | null {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
    return { rssMb: kb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return null;
  }
}
