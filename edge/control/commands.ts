/**
 * The command router of the control worker: what a command from the fleet console (or, later,
 * the local API) does on this box, and the acknowledgement it earns.
 *
 *   deviceCommand  -> device-data's inbox; answered by its `command-result` event (the device
 *                     layer applies the 60 s timeout; we wait a little longer for its answer)
 *   restartWorker  -> the supervisor restarts the named worker
 *   recordingStart/recordingStop -> a case in the recording catalog (registered by control)
 *   channelSettings -> `set-bitrate` to video-encode, one per role given
 *                     (settings: hqBitrateKbps, lqBitrateKbps)
 * Runs on the control worker. Results are keyed by the command id, so a result that arrives
 * after its waiter gave up is dropped, never delivered to another command.
 */
import { WORKER_NAMES, type WorkerName } from '../lib/health.js';
import type { WorkerContext } from '../workers/runtime.js';
import type { CommandBody } from '../fleet/codec.js';

export interface RouterResult {
  state: 'finished' | 'failed' | 'cancelled' | 'invalid' | 'unsupported';
  message?: string;
  details?: Record<string, string>;
}

/** How long control waits for a worker's answer: the device layer's 60 s timeout, plus slack. */
export const WORKER_ANSWER_MS = 65_000;

export type CommandHandler<K extends CommandBody['kind'] = CommandBody['kind']> = (body: Extract<CommandBody, { kind: K }>, id: string) => Promise<RouterResult>;

export class CommandRouter {
  private readonly pending = new Map<string, (r: RouterResult) => void>();
  // Keyed by kind; each handler takes only its kind's body (see handle()).
  private readonly handlers = new Map<CommandBody['kind'], (body: CommandBody, id: string) => Promise<RouterResult>>();

  constructor(private readonly ctx: WorkerContext) {}

  /** Lets another part of control (the recording catalog, channel settings) take a command kind. */
  handle<K extends CommandBody['kind']>(kind: K, h: CommandHandler<K>): void {
    this.handlers.set(kind, h as (body: CommandBody, id: string) => Promise<RouterResult>);
  }

  /** Feeds a worker event; returns true when it answered a pending command. */
  onEvent(event: { type: string; id?: unknown; result?: unknown }): boolean {
    if (event.type !== 'command-result' || typeof event.id !== 'string') return false;
    const resolve = this.pending.get(event.id);
    if (!resolve) return false;
    this.pending.delete(event.id);
    const r = event.result as { state?: string; reason?: string; detail?: string };
    const known = ['finished', 'failed', 'cancelled', 'invalid', 'unsupported'] as const;
    const state = (known as readonly string[]).includes(r.state ?? '') ? (r.state as RouterResult['state']) : 'failed';
    resolve({ state, message: r.reason ?? r.detail ?? '', details: {} });
    return true;
  }

  async run(id: string, body: CommandBody): Promise<RouterResult> {
    const custom = this.handlers.get(body.kind);
    if (custom) return custom(body, id);
    switch (body.kind) {
      case 'deviceCommand':
        return this.ask(id, 'device-data', 'device', {
          transactionId: id, port: body.device, action: body.command,
          args: Object.keys(body.args).length ? body.args : undefined,
          arrivedMonoNs: process.hrtime.bigint().toString(),
        });
      case 'channelSettings': {
        const known: Record<string, 'hq' | 'lq'> = { hqBitrateKbps: 'hq', lqBitrateKbps: 'lq' };
        const bad = Object.keys(body.settings).filter((k) => !(k in known));
        if (bad.length || Object.keys(body.settings).length === 0) {
          return { state: 'invalid', message: `settings ${bad.length ? `not known: ${bad.join(', ')}` : 'missing'}; known: ${Object.keys(known).join(', ')}` };
        }
        for (const [k, v] of Object.entries(body.settings)) {
          const kbps = Number(v);
          if (!Number.isInteger(kbps) || kbps < 64 || kbps > 100_000) return { state: 'invalid', message: `${k} must be an integer from 64 to 100000 kbit/s, got "${v}"` };
          const r = await this.ask(`${id}/${known[k]}`, 'video-encode', 'set-bitrate', { channel: body.channel, role: known[k], kbps });
          if (r.state !== 'finished') return r;
        }
        return { state: 'finished', message: `${body.channel}: ${Object.entries(body.settings).map(([k, v]) => `${k}=${v}`).join(', ')}` };
      }
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

  private ask(id: string, to: WorkerName, name: string, args: Record<string, unknown>): Promise<RouterResult> {
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
