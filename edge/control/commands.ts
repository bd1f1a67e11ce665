/**
 * The command router of the control worker: what a command from the fleet console or the
 * local API (the `orbox` CLI) does on this box, and the acknowledgement it earns. Both go
 * through run(), so a setting refused from one is refused from the other with the same words.
 *
 *   deviceCommand  -> device-data's inbox; answered by its `command-result` event (the device
 *                     layer applies the 60 s timeout; we wait a little longer for its answer)
 *   restartWorker  -> the supervisor restarts the named worker
 *   recordingStart/recordingStop -> a case in the recording catalog (registered by control)
 *   channelSettings -> `set-bitrate` to video-encode, one per role given
 *                     (settings: hqBitrateKbps, lqBitrateKbps); every value is checked before
 *                     any is applied; details give what each encoder reads back
 *   snapshot        -> a still of a channel (registered by control, edge/control/stills.ts)
 *   (local API only) voice-offer / voice-start / voice-stop / voice-mute -> duplex-voice, through ask()
 * Every command run() sees is written to the audit log (when one is given) with its origin and
 * how it ended, whatever handler took it: the one place no command can go round.
 * Runs on the control worker. Results are keyed by the command id, so a result that arrives
 * after its waiter gave up is dropped, never delivered to another command.
 */
import { WORKER_NAMES, type WorkerName } from '../lib/health.js';
import type { WorkerContext } from '../runtime/index.js';
import type { CommandBody } from '../fleet/codec.js';
import type { AuditEntry } from '../audit/index.js';

export interface RouterResult {
  state: 'finished' | 'failed' | 'cancelled' | 'invalid' | 'unsupported';
  message?: string;
  details?: Record<string, string>;
}

/** How long control waits for a worker's answer: the device layer's 60 s timeout, plus slack. */
export const WORKER_ANSWER_MS = 65_000;

/** Who sent a command: `local` (the CLI over the local API) or `fleet:<issuer>`. */
export type CommandOrigin = string;

export type CommandHandler<K extends CommandBody['kind'] = CommandBody['kind']> = (body: Extract<CommandBody, { kind: K }>, id: string, origin: CommandOrigin) => Promise<RouterResult>;

export class CommandRouter {
  private readonly pending = new Map<string, (r: RouterResult) => void>();
  // Keyed by kind; each handler takes only its kind's body (see handle()).
  private readonly handlers = new Map<CommandBody['kind'], (body: CommandBody, id: string, origin: CommandOrigin) => Promise<RouterResult>>();

  constructor(private readonly ctx: WorkerContext, private readonly audit: (e: AuditEntry) => void = () => {}) {}

  /** Lets another part of control (the recording catalog, channel settings) take a command kind. */
  handle<K extends CommandBody['kind']>(kind: K, h: CommandHandler<K>): void {
    this.handlers.set(kind, h as (body: CommandBody, id: string, origin: CommandOrigin) => Promise<RouterResult>);
  }

  /** Feeds a worker event; returns true when it answered a pending command. */
  onEvent(event: { type: string; id?: unknown; result?: unknown }): boolean {
    if (event.type !== 'command-result' || typeof event.id !== 'string') return false;
    const resolve = this.pending.get(event.id);
    if (!resolve) return false;
    this.pending.delete(event.id);
    const r = event.result as { state?: string; reason?: string; detail?: string; details?: Record<string, unknown> };
    const known = ['finished', 'failed', 'cancelled', 'invalid', 'unsupported'] as const;
    const state = (known as readonly string[]).includes(r.state ?? '') ? (r.state as RouterResult['state']) : 'failed';
    const details = Object.fromEntries(Object.entries(r.details ?? {}).map(([k, v]) => [k, String(v)]));
    resolve({ state, message: r.reason ?? r.detail ?? '', details });
    return true;
  }

  async run(id: string, body: CommandBody, origin: CommandOrigin = 'local'): Promise<RouterResult> {
    const r = await this.dispatch(id, body, origin);
    this.audit({
      actor: origin, from: origin.startsWith('fleet:') ? 'fleet' : 'cli', action: body.kind, target: commandTarget(body),
      outcome: r.state, detail: r.message ?? '',
    });
    return r;
  }

  private async dispatch(id: string, body: CommandBody, origin: CommandOrigin): Promise<RouterResult> {
    const custom = this.handlers.get(body.kind);
    if (custom) return custom(body, id, origin);
    switch (body.kind) {
      case 'deviceCommand':
        return this.ask(id, 'device-data', 'device', {
          transactionId: id, port: body.device, action: body.command,
          args: Object.keys(body.args).length ? body.args : undefined,
          arrivedMonoNs: process.hrtime.bigint().toString(),
        });
      case 'channelSettings':
        return this.channelSettings(id, body.channel, body.settings);
      case 'restartWorker': {
        const w = body.worker as WorkerName;
        if (!WORKER_NAMES.includes(w)) return { state: 'invalid', message: `unknown worker "${body.worker}"; workers: ${WORKER_NAMES.join(', ')}` };
        if (w === 'control') return { state: 'invalid', message: 'control cannot restart itself from a command it is answering' };
        this.ctx.post({ type: 'restart', worker: w, fault: 0, delayMs: 0 });
        return { state: 'finished', message: `${w} restarting` };
      }
      case 'rebirth':
        return { state: 'finished' };
      default:
        return { state: 'unsupported', message: `${body.kind} is not handled on this box` };
    }
  }

  /** Run-time channel settings: every value checked first (nothing half-applied by a typo),
   *  then one `set-bitrate` per role; a refusal names the channel, role and value. */
  private async channelSettings(id: string, channel: string, settings: Record<string, string>): Promise<RouterResult> {
    const known: Record<string, 'hq' | 'lq'> = { hqBitrateKbps: 'hq', lqBitrateKbps: 'lq' };
    const channels = this.ctx.config.channels.map((c) => c.name);
    if (!channels.includes(channel)) return { state: 'invalid', message: `unknown channel "${channel}"; channels: ${channels.join(', ') || 'none'}` };
    const bad = Object.keys(settings).filter((k) => !(k in known));
    if (bad.length || Object.keys(settings).length === 0) {
      return { state: 'invalid', message: `channel "${channel}": settings ${bad.length ? `not known: ${bad.join(', ')}` : 'missing'}; known: ${Object.keys(known).join(', ')}` };
    }
    const wanted: [string, 'hq' | 'lq', number][] = [];
    for (const [k, v] of Object.entries(settings)) {
      const kbps = Number(v);
      if (v.trim() === '' || !Number.isInteger(kbps) || kbps < 64 || kbps > 100_000) {
        return { state: 'invalid', message: `channel "${channel}" ${known[k]} bitrate "${v}" kbit/s refused: must be an integer from 64 to 100000 kbit/s` };
      }
      wanted.push([k, known[k], kbps]);
    }
    const applied: string[] = [];
    const details: Record<string, string> = {};
    for (const [k, role, kbps] of wanted) {
      const r = await this.ask(`${id}/${role}`, 'video-encode', 'set-bitrate', { channel, role, kbps });
      if (r.state !== 'finished') return { ...r, message: `${r.message}${applied.length ? ` (already applied: ${applied.join(', ')})` : ''}`, details };
      applied.push(`${k}=${kbps}`);
      Object.assign(details, r.details);
    }
    return { state: 'finished', message: `channel "${channel}": ${applied.join(', ')}`, details };
  }

  /** Asks a worker (a `command` in its inbox) and waits for its `command-result` (local API methods use it too). */
  ask(id: string, to: WorkerName, name: string, args: Record<string, unknown>): Promise<RouterResult> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ state: 'failed', message: `${to} did not answer within ${WORKER_ANSWER_MS / 1000} s` });
      }, WORKER_ANSWER_MS);
      this.pending.set(id, (r) => { clearTimeout(timer); resolve(r); });
      this.ctx.send(to, { type: 'command', id, from: 'control', name, args });
    });
  }
}

/** What a command acts on, for the audit log. */
function commandTarget(b: CommandBody): string {
  switch (b.kind) {
    case 'recordingStart': return b.caseId || (b.channels.length ? b.channels.join(',') : '');
    case 'recordingStop': return b.caseId;
    case 'channelSettings': return `${b.channel} ${Object.entries(b.settings).map(([k, v]) => `${k}=${v}`).join(' ')}`;
    case 'deviceCommand': return `${b.device} ${b.command}`;
    case 'restartWorker': return b.worker;
    case 'snapshot': return b.channel;
    default: return '';
  }
}
