/**
 * The command log the web console shows: the last commands that went through the command
 * router (from the CLI, the web console or the fleet), who sent them, and how they ended. In
 * memory, bounded (MAX_ENTRIES); the audit log of #21 is the durable record. Runs on control.
 */
import type { RouterResult } from './commands.js';
import type { CommandBody } from '../fleet/codec.js';

export const MAX_ENTRIES = 200;

export interface CommandLogEntry { id: string; atMs: number; origin: string; kind: string; summary: string; state: RouterResult['state'] | 'running'; message: string; tookMs?: number }

export class CommandLog {
  private readonly entries: CommandLogEntry[] = [];

  /** Records a command as it starts; the returned function records how it ended. */
  begin(id: string, body: CommandBody, origin: string, now = Date.now()): (r: RouterResult) => void {
    const e: CommandLogEntry = { id, atMs: now, origin, kind: body.kind, summary: summarize(body), state: 'running', message: '' };
    this.entries.push(e);
    if (this.entries.length > MAX_ENTRIES) this.entries.shift();
    return (r) => { e.state = r.state; e.message = r.message ?? ''; e.tookMs = Date.now() - e.atMs; };
  }

  /** Newest first. */
  list(limit = 50): CommandLogEntry[] { return this.entries.slice(-limit).reverse().map((e) => ({ ...e })); }
}

function summarize(b: CommandBody): string {
  switch (b.kind) {
    case 'deviceCommand': return `${b.device}: ${b.command}${Object.keys(b.args).length ? ' ' + JSON.stringify(b.args) : ''}`;
    case 'recordingStart': return `start case ${b.caseId || '(named by time)'}`;
    case 'recordingStop': return `stop case ${b.caseId || '(current)'}`;
    case 'channelSettings': return `${b.channel} ${JSON.stringify(b.settings)}`;
    case 'snapshot': return `${b.channel}${b.save ? ' saved' : ''}`;
    case 'restartWorker': return b.worker;
    default: return '';
  }
}
