/**
 * `orbox fleet ...`: the operator's console commands, registered on the CLI's commander program.
 *
 *   orbox fleet [--url U --ca F --cert F --key F] list [--timeout ms] [--json]
 *   orbox fleet watch [box] [--json] [--count n] [--duration ms]
 *   orbox fleet send <box> <command> [key=value ...] [--wait] [--timeout ms] [--expires s] [--id id] [--json] [--out file.jpg]
 *
 * Connection options fall back to ORBOX_FLEET_URL, ORBOX_FLEET_CA, ORBOX_FLEET_CERT,
 * ORBOX_FLEET_KEY. The console uses its own certificate (CN = the ACL's console user).
 *
 * Commands for `send` (kebab-case) and their arguments:
 *   recording-start [case=ID] [channels=a,b]   recording-stop [case=ID]
 *   channel-settings channel=C key=value...     device-command device=D command=X [key=value...]
 *   restart-worker worker=W                     rebirth
 *   snapshot channel=C [save=true] [fresh=true]  (a thumbnail in the ack: --out writes it as a file)
 *
 * Exit codes: 0 success; 1 command answered with a non-finished state or not answered in time;
 * 2 bad usage or connection failure.
 */
import { writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { type Ack, type CommandBody, jsonBigint } from './codec.js';
import { FleetConsole, type FleetConsoleConfigInput } from './console.js';

export interface FleetCliDeps {
  /** Where output lines go. Default: stdout. */
  out?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Default: sets process.exitCode. */
  setExitCode?: (code: number) => void;
}

export const SEND_COMMANDS = ['recording-start', 'recording-stop', 'channel-settings', 'device-command', 'restart-worker', 'rebirth', 'snapshot'] as const;

function keyValues(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`expected key=value, got "${a}"`);
    out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}

function flag(kv: Record<string, string>, key: string, command: string): boolean {
  const v = kv[key];
  delete kv[key];
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new InvalidArgumentError(`${command}: ${key} must be true or false, got "${v}"`);
}

function take(kv: Record<string, string>, key: string, command: string): string {
  const v = kv[key];
  if (!v) throw new InvalidArgumentError(`${command} needs ${key}=...`);
  delete kv[key];
  return v;
}

/** Turns `send` arguments into a command body; throws InvalidArgumentError naming the problem. */
export function parseCommandArgs(command: string, args: readonly string[]): CommandBody {
  const kv = keyValues(args);
  switch (command) {
    case 'recording-start':
      return { kind: 'recordingStart', caseId: kv.case ?? '', channels: kv.channels ? kv.channels.split(',').filter(Boolean) : [] };
    case 'recording-stop':
      return { kind: 'recordingStop', caseId: kv.case ?? '' };
    case 'channel-settings': {
      const channel = take(kv, 'channel', command);
      return { kind: 'channelSettings', channel, settings: kv };
    }
    case 'device-command': {
      const device = take(kv, 'device', command);
      const cmd = take(kv, 'command', command);
      return { kind: 'deviceCommand', device, command: cmd, args: kv };
    }
    case 'restart-worker':
      return { kind: 'restartWorker', worker: take(kv, 'worker', command) };
    case 'rebirth':
      return { kind: 'rebirth' };
    case 'snapshot': {
      const channel = take(kv, 'channel', command);
      const save = flag(kv, 'save', command);
      const fresh = flag(kv, 'fresh', command);
      const extra = Object.keys(kv);
      if (extra.length) throw new InvalidArgumentError(`${command} takes channel=, save=, fresh=; not ${extra.join(', ')}`);
      return { kind: 'snapshot', channel, save, fresh };
    }
    default:
      throw new InvalidArgumentError(`unknown command "${command}"; one of: ${SEND_COMMANDS.join(', ')}`);
  }
}

function intOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function fmtValue(v: unknown): string {
  return v === null ? '-' : typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Adds `fleet list|watch|send` to `program`. Returns the `fleet` command. */
export function registerFleetCommands(program: Command, deps: FleetCliDeps = {}): Command {
  const out = deps.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const env = deps.env ?? process.env;
  const setExit = deps.setExitCode ?? ((c: number) => { process.exitCode = c; });

  const fleet = program
    .command('fleet')
    .description('fleet console: list boxes, watch telemetry, send commands (MQTT over mutual TLS)')
    .option('--url <url>', 'broker URL (env ORBOX_FLEET_URL)')
    .option('--ca <file>', 'broker CA certificate (env ORBOX_FLEET_CA)')
    .option('--cert <file>', 'console certificate (env ORBOX_FLEET_CERT)')
    .option('--key <file>', 'console private key (env ORBOX_FLEET_KEY)');

  async function withConsole(cmd: Command, fn: (c: FleetConsole) => Promise<void>): Promise<void> {
    const o = cmd.optsWithGlobals() as Record<string, string | undefined>;
    const cfg = {
      url: o.url ?? env.ORBOX_FLEET_URL,
      ca: o.ca ?? env.ORBOX_FLEET_CA,
      cert: o.cert ?? env.ORBOX_FLEET_CERT,
      key: o.key ?? env.ORBOX_FLEET_KEY,
    };
    let fc: FleetConsole;
    try {
      fc = new FleetConsole(cfg as FleetConsoleConfigInput);
      await fc.start();
    } catch (err) {
      out(`fleet: ${(err as Error).message}`);
      setExit(2);
      return;
    }
    try {
      await fn(fc);
    } finally {
      await fc.close();
    }
  }

  fleet
    .command('list')
    .description('boxes and their state (from births and deaths; silent boxes are probed)')
    .option('--timeout <ms>', 'how long to collect births and wait for probes', intOption, 1500)
    .option('--json', 'one JSON object per box')
    .action(async (opts: { timeout: number; json?: boolean }, cmd: Command) => {
      await withConsole(cmd, async (c) => {
        // Retained births arrive right after SUBSCRIBE; give them a moment, then probe.
        await new Promise((r) => setTimeout(r, Math.min(300, opts.timeout)));
        const boxes = await c.probe(opts.timeout);
        if (opts.json) {
          for (const b of boxes) {
            out(JSON.stringify({ boxId: b.boxId, state: b.state, bdSeq: b.bdSeq, firmwareVersion: b.firmwareVersion, birthMs: b.birthMs, metrics: b.metrics.size }));
          }
          return;
        }
        out(['BOX', 'STATE', 'BD_SEQ', 'FIRMWARE', 'BIRTH', 'METRICS'].join('\t'));
        for (const b of boxes) {
          out([b.boxId, b.state, b.bdSeq, b.firmwareVersion, new Date(b.birthMs).toISOString(), b.metrics.size].join('\t'));
        }
      });
    });

  fleet
    .command('watch')
    .description('print births, deaths, telemetry (decoded), acknowledgements and events')
    .argument('[box]', 'only this box')
    .option('--json', 'JSON lines')
    .option('--count <n>', 'stop after n messages', intOption)
    .option('--duration <ms>', 'stop after this long', intOption)
    .action(async (box: string | undefined, opts: { json?: boolean; count?: number; duration?: number }, cmd: Command) => {
      await withConsole(cmd, async (c) => {
        let n = 0;
        let stop!: () => void;
        const done = new Promise<void>((r) => (stop = r));
        const emit = (boxId: string, kind: string, fields: Record<string, unknown>) => {
          if (box && boxId !== box) return;
          if (opts.json) out(JSON.stringify({ box: boxId, kind, ...fields }, jsonBigint));
          else out(`${new Date().toISOString()} ${boxId} ${kind} ` + Object.entries(fields).map(([k, v]) => `${k}=${fmtValue(v)}`).join(' '));
          if (opts.count !== undefined && ++n >= opts.count) stop();
        };
        c.on('birth', (s, b, retained) => {
          const values = Object.fromEntries([...s.metrics.values()].map((m) => [m.name, m.value]));
          emit(s.boxId, retained ? 'birth(retained)' : 'birth', opts.json ? { bdSeq: b.bdSeq, firmware: b.firmwareVersion, metrics: values } : { bdSeq: b.bdSeq, firmware: b.firmwareVersion, metrics: s.metrics.size });
        });
        c.on('death', (_s, d, boxId) => emit(boxId, 'death', { bdSeq: d.bdSeq, reason: d.reason || 'will' }));
        c.on('telemetry', (u) => emit(u.boxId, 'telemetry', opts.json ? { seq: u.seq, values: u.values } : { seq: u.seq, ...u.values }));
        c.on('ack', (boxId, a) => emit(boxId, 'ack', { id: a.commandId, state: a.state, message: a.message, ...(a.duplicate ? { duplicate: true } : {}) }));
        c.on('event', (boxId, e) => emit(boxId, 'event', { seq: e.seq, kind: e.kind, severity: e.severity, message: e.message }));
        const timer = opts.duration !== undefined ? setTimeout(stop, opts.duration) : undefined;
        const onSig = () => stop();
        process.once('SIGINT', onSig);
        await done;
        if (timer) clearTimeout(timer);
        process.off('SIGINT', onSig);
      });
    });

  fleet
    .command('send')
    .description(`send a command to a box: ${SEND_COMMANDS.join(', ')}`)
    .argument('<box>', 'box id')
    .argument('<command>', 'command name')
    .argument('[args...]', 'key=value arguments')
    .option('--wait', 'wait for the terminal acknowledgement')
    .option('--timeout <ms>', 'how long to wait', intOption, 30_000)
    .option('--expires <s>', 'drop the command if not delivered within this many seconds', intOption)
    .option('--id <commandId>', 'command id (default: a random UUID); re-sending an id never re-runs it')
    .option('--json', 'print the acknowledgement as JSON')
    .option('--out <file>', 'snapshot: write the JPEG the box answered with to this file (implies --wait)')
    .action(async (box: string, command: string, args: string[], opts: { wait?: boolean; timeout: number; expires?: number; id?: string; json?: boolean; out?: string }, cmd: Command) => {
      let body: CommandBody;
      try {
        body = parseCommandArgs(command, args);
      } catch (err) {
        out(`fleet send: ${(err as Error).message}`);
        setExit(2);
        return;
      }
      await withConsole(cmd, async (c) => {
        const printAck = (a: Ack) => {
          // A snapshot's JPEG goes to --out, never to the terminal.
          const { jpeg, ...details } = a.details;
          if (jpeg && opts.out) {
            writeFileSync(opts.out, Buffer.from(jpeg, 'base64'));
            details.file = opts.out;
          }
          const shown = { ...a, details };
          out(opts.json ? JSON.stringify({ box, ...shown }) : `${box} ${a.commandId} ${a.state}${a.message ? ' ' + a.message : ''}${a.duplicate ? ' (duplicate)' : ''}${details.file ? ` -> ${details.file}` : ''}`);
        };
        try {
          const ack = await c.send(box, body, {
            wait: Boolean(opts.wait || opts.out),
            timeoutMs: opts.timeout,
            ...(opts.id ? { commandId: opts.id } : {}),
            ...(opts.expires ? { expiresInMs: opts.expires * 1000 } : {}),
            onProgress: printAck,
          });
          if (ack) {
            printAck(ack);
            if (ack.state !== 'finished') setExit(1);
          } else {
            out(`${box} sent`);
          }
        } catch (err) {
          out(`fleet send: ${(err as Error).message}`);
          setExit(1);
        }
      });
    });

  return fleet;
}
