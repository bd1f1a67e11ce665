/**
 * The `orbox` command. Subcommands:
 *   run [--config FILE]           start the box in the foreground (built-in demo without --config)
 *   status [--json]               ask the running box for its workers and rings
 *   config check FILE | demo      validate a configuration / print the demo one
 *   debug fault WORKER MODE       make a worker exit, throw or hang (debug.faultInjection only)
 *   snapshot CHANNEL [-o FILE] [--fresh] [--save]   the channel's latest JPEG still
 *   channel set CHANNEL [--hq-bitrate KBPS] [--lq-bitrate KBPS]   run-time settings
 *   record start [--case ID] | stop [--case ID]      a case (recording session)
 *   users list | add NAME --role R [--password-stdin] | remove NAME | passwd NAME [--password-stdin]
 *                                 the box's accounts (web console; RTSP Digest with rtsp.auth)
 *   cameras discover [--json] [--to HOST:PORT]        ONVIF cameras on the LAN (edge/onvif/cli.ts)
 *   provision IMAGE TARGET --serial S --ca DIR --config FILE   flash and give a box its identity (provision/cli.ts)
 *   image build, fleet ca init|sign|revoke|list       disk images and the device CA at the bench
 * Commands that act on a running box talk to it over its local API socket (--socket, or the
 * socket of --config's box, or the machine's fixed one: edge/config/runtime-dir.ts). Box-side refusals are printed as the box words them.
 * Exit codes: 0 ok, 1 runtime failure or refused by the box, 2 usage or configuration error.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, defaultApiSocket, demoConfig, loadConfig, type BoxConfig } from '../config/index.js';
import { DEMO_ADMIN_PASSWORD } from '../config/demo.js';
import { startDemoCamera } from '../demo/camera.js';
import { callLocalApi } from '../control/local-api.js';
import { exportCase } from '../control/case-export.js';
import { fetchUplinkSdp } from '../web/sdp-client.js';
import { readAudit, verifyAudit, type AuditHead, type AuditRecord, type AuditVerdict } from '../audit/index.js';
import { formatStatus, type BoxStatus } from '../control/status.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { WORKER_NAMES } from '../lib/health.js';
import { registerDevicesCommands } from '../devices/index.js';
import { registerFleetCommands } from '../fleet/index.js';
import { registerOtaCommands } from '../ota/cli.js';
import { registerCamerasCommands } from '../onvif/index.js';
import { registerProvisionCommands } from '../../provision/cli.js';

/**
 * The demo stands in for a hospital: test-pattern sources (in the configuration) and a
 * simulated patient monitor speaking IntelliVue on a pseudo-terminal (edge/demo/monitor.ts),
 * and a simulated IP camera over RTSP (edge/demo/camera.ts),
 * its port configured `simulated` so nothing it sends passes for a patient's.
 */
async function startDemo(): Promise<{ config: BoxConfig; close(): Promise<void> }> {
  const child = spawn(process.execPath, [new URL('../demo/monitor.js', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { path } = JSON.parse(line) as { path: string };
  // The demo's IP camera (edge/demo/camera.ts); the demo runs without it where it cannot start.
  const cam = await startDemoCamera();
  if ('unavailable' in cam) process.stderr.write(`orbox: ${cam.unavailable}; the demo runs without its camera channel\n`);
  const camera = 'unavailable' in cam ? undefined : cam;
  return {
    config: demoConfig(process.env.ORBOX_DATA_DIR ?? 'var', { monitorPath: path, camera }),
    close: async () => { child.kill('SIGTERM'); await Promise.all([once(child, 'exit'), camera?.close()]); },
  };
}
import { UplinkReceiver, formatReceiverStats } from '../net/uplink/index.js';
import { videoBanner } from '../video/index.js';

const HEAD = /^(\d+):([0-9a-f]{64})$/;

/** `orbox audit` and `orbox audit verify`: the running box's log through its API, or a log file (--file) offline. */
function registerAuditCommands(program: Command): void {
  const fmt = (r: AuditRecord) => `${String(r.seq).padStart(6)} ${r.at} ${r.actor} (${r.from}) ${r.action}${r.target ? ` ${r.target}` : ''}: ${r.outcome}${r.detail ? ` (${r.detail})` : ''}`;
  const audit = program.command('audit').description('the audit log: who did what on this box, when and from where (append-only, hash-chained)');
  audit.command('list', { isDefault: true }).description('print the records (the default of `orbox audit`)')
    .option('--since <seq>', 'records after this seq', (v: string) => positiveNumber(v, '--since'))
    .option('--limit <n>', 'at most this many (the latest)', (v: string) => positiveNumber(v, '--limit'), 200)
    .option('--json', 'records as JSON lines')
    .option('--file <path>', 'read this log file instead of asking the running box')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (opts: { since?: number; limit: number; json?: boolean; file?: string; socket?: string; config?: string }) => {
      const records = opts.file
        ? readAudit(opts.file, { sinceSeq: opts.since, limit: opts.limit })
        : ((await callLocalApi(socketFrom(opts), 'audit', { sinceSeq: opts.since ?? 0, limit: opts.limit })) as { records: AuditRecord[] }).records;
      for (const r of records) process.stdout.write((opts.json ? JSON.stringify(r) : fmt(r)) + '\n');
    });
  audit.command('verify')
    .description('check the chain (every record, its seq and hash); with --head, also that the log reaches the head the fleet holds (a cut end or a rewrite); exits 1 when it does not hold')
    .option('--head <seq:hash>', 'the head the fleet console saw last (the `audit` events carry it)')
    .option('--file <path>', 'check this log file instead of asking the running box')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (opts: { head?: string; file?: string; socket?: string; config?: string }) => {
      let head: AuditHead | undefined;
      if (opts.head) {
        const m = HEAD.exec(opts.head);
        if (!m) throw new InvalidArgumentError(`--head: <seq>:<64 hex digits>, got "${opts.head}"`);
        head = { seq: Number(m[1]), hash: m[2]! };
      }
      const v = opts.file ? verifyAudit(opts.file, head) : ((await callLocalApi(socketFrom(opts), 'auditVerify', { head })) as AuditVerdict);
      if (v.ok) process.stdout.write(`audit log holds: ${v.records} records, head ${v.head.seq}:${v.head.hash}\n`);
      else {
        const p = v.problem!;
        process.stdout.write(`audit log BROKEN at line ${p.line}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.reason}; ${v.records} records hold before it\n`);
        process.exitCode = 1;
      }
    });
}

async function readStdin(): Promise<string> {
  let s = '';
  for await (const c of process.stdin) s += c;
  return s;
}

/** The box to ask: --socket, else the socket --config's box listens on, else the machine's fixed one. */
function socketFrom(opts: { socket?: string; config?: string }): string {
  return opts.socket ?? (opts.config ? loadConfig(opts.config).api.socket : defaultApiSocket());
}

function positiveNumber(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what}: a positive number, got "${v}"`);
  return n;
}

/** What the box's `snapshot` method answers (edge/workers/control.ts). */
interface SnapshotAnswer {
  channel: string;
  captureNs: string;
  capturedAt: string;
  ageMs: number;
  width: number;
  height: number;
  bytes: number;
  jpeg: string;
  saved?: { id: number; path: string; bytes: number; case: string | null };
}

/** A password from stdin (one line), for `users add|passwd --password-stdin`; else the box makes one. */
async function stdinPassword(use?: boolean): Promise<string | undefined> {
  if (!use) return undefined;
  const [line] = (await once(createInterface({ input: process.stdin }), 'line')) as [string];
  return line;
}

function registerUsersCommands(program: Command): void {
  const users = program.command('users').description('accounts of the box (web console sign-in and RTSP Digest; roles viewer, clinician, engineer, admin)');
  const box = (c: Command) => c.option('-c, --config <file>', 'configuration of the box').option('-s, --socket <path>', 'local API socket of the box');
  box(users.command('list').description('list the accounts and their roles'))
    .action(async (opts: { socket?: string; config?: string }) => {
      const r = (await callLocalApi(socketFrom(opts), 'usersList')) as { accounts: { name: string; role: string; passwordChangedAt: string }[] };
      for (const a of r.accounts) process.stdout.write(`${a.name.padEnd(20)} ${a.role.padEnd(10)} password set ${a.passwordChangedAt}\n`);
    });
  box(users.command('add <name>').description('add an account; without --password-stdin the box makes a password and prints it once')
    .requiredOption('--role <role>', 'viewer, clinician, engineer or admin')
    .option('--password-stdin', 'read the password from the first line of stdin'))
    .action(async (name: string, opts: { role: string; passwordStdin?: boolean; socket?: string; config?: string }) => {
      const password = await stdinPassword(opts.passwordStdin);
      const r = (await callLocalApi(socketFrom(opts), 'usersAdd', { name, role: opts.role, password }, 15_000)) as { password?: string };
      process.stdout.write(`account "${name}" (${opts.role}) added${r.password ? `; password: ${r.password}` : ''}\n`);
    });
  box(users.command('remove <name>').description('remove an account (its sessions end; the last admin stays)'))
    .action(async (name: string, opts: { socket?: string; config?: string }) => {
      await callLocalApi(socketFrom(opts), 'usersRemove', { name });
      process.stdout.write(`account "${name}" removed\n`);
    });
  box(users.command('passwd <name>').description('set a new password (its sessions end); without --password-stdin the box makes one and prints it once')
    .option('--password-stdin', 'read the password from the first line of stdin'))
    .action(async (name: string, opts: { passwordStdin?: boolean; socket?: string; config?: string }) => {
      const password = await stdinPassword(opts.passwordStdin);
      const r = (await callLocalApi(socketFrom(opts), 'usersPasswd', { name, password }, 15_000)) as { password?: string };
      process.stdout.write(`password of "${name}" changed${r.password ? `: ${r.password}` : ''}\n`);
    });
}

export function buildProgram(): Command {
  const program = new Command('orbox')
    .description('orbox: the operating-room box — records and streams every source of the room on one clock')
    .showHelpAfterError()
    .exitOverride();

  program.command('run')
    .description('start the box in the foreground (the built-in demo configuration when no --config is given)')
    .option('-c, --config <file>', 'box configuration (YAML or JSON)')
    .action(async (opts: { config?: string }) => {
      const demo = opts.config ? undefined : await startDemo();
      const config = demo?.config ?? loadConfig(opts.config!);
      const sup = new Supervisor(config);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`\n${signal}: stopping orbox...\n`);
        await sup.stop();
        await demo?.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      await sup.start();
      const channels = config.channels.map((c) => c.name).join(', ') || 'none';
      process.stdout.write(
        `orbox ${config.box.id} running: ${WORKER_NAMES.length} workers, ${sup.rings.size} rings, channels: ${channels}\n` +
        videoBanner(config) +
        config.uplink.receivers.map((r) => `  uplink:   ${r.channels.join(', ')} -> ${r.name} at ${r.host}:${r.port} (npx orbox uplink sdp ${r.name} -o ${r.name}.sdp; npx orbox receive --sdp ${r.name}.sdp)\n`).join('') +
        (config.web.enabled ? `  console:  https://${config.web.host.includes(':') ? `[${config.web.host}]` : config.web.host}:${config.web.port}/${demo ? ` (self-signed certificate; sign in as ${config.web.firstAdmin.name} / ${DEMO_ADMIN_PASSWORD})` : ''}\n` : '') +
        `  status:   npx orbox status${opts.config ? ` --config ${opts.config}` : ''}\n` +
        `  stop:     Ctrl-C\n`,
      );
    });

  program.command('status')
    .description('show every worker (state, restarts, heartbeat) and every ring (fill, records, overruns) of the running box')
    .option('--json', 'machine-readable output')
    .option('-c, --config <file>', 'configuration of the box to ask (for its socket path)')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (opts: { json?: boolean; socket?: string; config?: string }) => {
      const s = (await callLocalApi(socketFrom(opts), 'status')) as BoxStatus;
      process.stdout.write((opts.json ? JSON.stringify(s, null, 2) : formatStatus(s)) + '\n');
    });

  const config = program.command('config').description('box configuration files');
  config.command('check <file>')
    .description('validate a configuration file; every problem is listed with its key path')
    .action((file: string) => {
      const c = loadConfig(file);
      process.stdout.write(`${file}: valid (box ${c.box.id}, ${c.channels.length} channels, ${c.audio.inputs.length} audio inputs, ${c.devices.ports.length} device ports)\n`);
    });
  config.command('demo')
    .description('print the built-in demo configuration as YAML, a starting point for a real box')
    .action(() => { process.stdout.write(stringify(demoConfig())); });

  const debug = program.command('debug').description('bench tools for biomedical engineers');
  debug.command('fault <worker> <mode>')
    .description('make a worker exit, throw or hang, to watch the guard restart it (needs debug.faultInjection: true)')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (worker: string, mode: string, opts: { socket?: string; config?: string }) => {
      await callLocalApi(socketFrom(opts), 'fault', { worker, mode });
      process.stdout.write(`fault "${mode}" sent to ${worker}\n`);
    });

  program.command('snapshot <channel>')
    .description('the latest JPEG still of a channel, written to a file (default ./<channel>-<capture time>.jpg); --save keeps it on the box with the case being recorded')
    .option('-o, --out <file>', 'where to write the JPEG (- for stdout)')
    .option('--fresh', 'wait for a still captured after this request')
    .option('--save', 'keep the still on the box, next to the channel\'s recording, in the catalog with the current case')
    .option('--timeout <s>', 'how long to wait for a still, seconds', (v: string) => positiveNumber(v, '--timeout'), 15)
    .option('--json', 'print what the box answered as JSON (without the image)')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (channel: string, opts: { out?: string; fresh?: boolean; save?: boolean; timeout: number; json?: boolean; socket?: string; config?: string }) => {
      const waitMs = Math.round(opts.timeout * 1000);
      // The box answers within waitMs; the socket waits a little longer (saving includes an fsync).
      const r = (await callLocalApi(socketFrom(opts), 'snapshot', { channel, fresh: Boolean(opts.fresh), save: Boolean(opts.save), waitMs }, waitMs + 5000)) as SnapshotAnswer;
      const jpeg = Buffer.from(r.jpeg, 'base64');
      const file = opts.out ?? (opts.save ? undefined : `${channel}-${r.capturedAt.replace(/[-:]/g, '')}.jpg`);
      if (file === '-') process.stdout.write(jpeg);
      else if (file) writeFileSync(file, jpeg);
      const { jpeg: _omit, ...info } = r;
      const say = (line: string): void => { (file === '-' ? process.stderr : process.stdout).write(line + '\n'); };
      if (opts.json) { say(JSON.stringify({ ...info, file: file ?? null })); return; }
      say(`${r.channel}: still ${r.width}x${r.height}, ${r.bytes} bytes, captured ${r.capturedAt} (${(r.ageMs / 1000).toFixed(1)} s ago)${file && file !== '-' ? ` -> ${file}` : ''}`);
      if (r.saved) say(`saved on the box: ${r.saved.path} (${r.saved.case ? `case "${r.saved.case}"` : 'no case recording'})`);
    });

  const channelCmd = program.command('channel').description('run-time settings of a channel of the running box (the same command the fleet sends)');
  channelCmd.command('set <channel>')
    .description('change a channel\'s encoder settings while it streams and records')
    .option('--hq-bitrate <kbps>', 'target bitrate of the high-quality (recorded) stream, kbit/s')
    .option('--lq-bitrate <kbps>', 'target bitrate of the low-latency stream, kbit/s')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (channel: string, opts: { hqBitrate?: string; lqBitrate?: string; socket?: string; config?: string }, cmd: Command) => {
      if (opts.hqBitrate === undefined && opts.lqBitrate === undefined) cmd.error('channel set: give --hq-bitrate and/or --lq-bitrate', { exitCode: 2 });
      // Values go to the box as typed: it checks them, the same way it checks the fleet's.
      const r = (await callLocalApi(socketFrom(opts), 'channelSettings', { channel, hqBitrateKbps: opts.hqBitrate, lqBitrateKbps: opts.lqBitrate }, 15_000)) as { message: string; details: Record<string, string> };
      const back = Object.entries(r.details).map(([k, v]) => `${k.replace('BitrateKbps', '')} ${v} kbit/s`).join(', ');
      process.stdout.write(`${r.message}${back ? ` (the encoder reads back ${back})` : ''}\n`);
    });

  const record = program.command('record').description('cases (recording sessions) of the running box: segments and stills taken during a case belong to it');
  record.command('start')
    .description('start a case (the channels record continuously; the case tags what is recorded while it runs)')
    .option('--case <id>', 'case id (default: case-<start time>)')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (opts: { case?: string; socket?: string; config?: string }) => {
      const r = (await callLocalApi(socketFrom(opts), 'recordingStart', { caseId: opts.case ?? '' })) as { message: string };
      process.stdout.write(r.message + '\n');
    });
  record.command('stop')
    .description('end the case being recorded')
    .option('--case <id>', 'the case to end (default: the one recording)')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (opts: { case?: string; socket?: string; config?: string }) => {
      const r = (await callLocalApi(socketFrom(opts), 'recordingStop', { caseId: opts.case ?? '' })) as { message: string };
      process.stdout.write(r.message + '\n');
    });

  const caseCmd = program.command('case').description('recorded cases');
  caseCmd.command('export <case>')
    .description('write one file per channel of the case (video and audio as recorded, the monitors\' numerics as a subtitle track) and manifest.json with SHA-256 checksums, into --out')
    .requiredOption('-o, --out <dir>', 'folder to write into')
    .option('-c, --config <file>', 'configuration of the box (its data folder and id; default: the demo\'s, under var/)')
    .action(async (uid: string, opts: { out: string; config?: string }) => {
      const cfg = opts.config ? loadConfig(opts.config) : demoConfig(process.env.ORBOX_DATA_DIR ?? 'var');
      const m = await exportCase({ dataDir: cfg.box.dataDir, boxId: cfg.box.id, caseUid: uid, outDir: opts.out });
      for (const f of m.files) process.stdout.write(`${f.file}: ${f.bytes} bytes from ${f.segments.length} segments, ${f.vitalsCues} vitals cues, sha256 ${f.sha256}\n`);
      for (const s of m.skipped) process.stdout.write(`${s.channel}: skipped, ${s.reason}\n`);
      process.stdout.write(`manifest: ${opts.out}/manifest.json\n`);
    });

  program.command('recordings')
    .description('the latest recorded segments and where each one\'s upload to the hospital\'s store stands (pending, uploading, verified, deleted locally after a verified upload)')
    .option('--channel <name>', 'one channel')
    .option('--limit <n>', 'at most this many (the latest)', (v: string) => positiveNumber(v, '--limit'), 50)
    .option('--json', 'one JSON object per segment')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (opts: { channel?: string; limit: number; json?: boolean; socket?: string; config?: string }) => {
      type Seg = { channel: string; path: string; state: string; startNs: string; bytes: number | null; upload: string; uploadError: string | null };
      const r = (await callLocalApi(socketFrom(opts), 'recordings', { channel: opts.channel, limit: opts.limit })) as { uploads: string; segments: Seg[] };
      if (!opts.json) process.stdout.write(`uploads ${r.uploads}; ${r.segments.length} segments\n`);
      for (const s of r.segments) {
        process.stdout.write(opts.json ? `${JSON.stringify(s)}\n`
          : `${s.channel.padEnd(12)} ${new Date(Number(BigInt(s.startNs) / 1_000_000n)).toISOString()} ${String(s.bytes ?? '-').padStart(10)} B  ${s.state.padEnd(9)} upload ${s.upload}${s.uploadError ? ` (${s.uploadError})` : ''}  ${s.path}\n`);
      }
    });
  registerUsersCommands(program);

  const uplink = program.command('uplink').description('the resilient, encrypted uplink to remote receivers');
  uplink.command('sdp <receiver>')
    .description('print the SDP a receiver plays the uplink from (ffmpeg, GStreamer rtpbin, orbox receive). Each one starts a new session with new SRTP keys (the previous SDP stops working); it holds the keys: move it only over an encrypted, authenticated channel')
    .option('-o, --out <file>', 'write it to a file (mode 0600) instead of stdout')
    .option('--current', 'the current session\'s SDP, keys unchanged (for a receiver that kept its state; a fresh receiver cannot decrypt a stream past its first 65536 packets with it)')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (receiver: string, opts: { out?: string; current?: boolean; socket?: string; config?: string }) => {
      const r = (await callLocalApi(socketFrom(opts), 'uplinkSdp', { receiver, current: Boolean(opts.current) })) as { sdp: string };
      if (opts.out) writeFileSync(opts.out, r.sdp, { mode: 0o600 });
      else process.stdout.write(r.sdp);
    });

  program.command('receive')
    .description('the receiving end of the uplink (at the expert\'s site or the video platform): repairs, decrypts and re-serves each channel as rtsp://127.0.0.1:<rtsp-port>/<channel>')
    .option('--sdp <file>', 'the uplink SDP of this receiver (from `orbox uplink sdp`; it holds keys)')
    .option('--from <url>', 'instead of --sdp: fetch it from the box\'s web console (https://<box>:8443), signed in as an engineer; the password on stdin')
    .option('--receiver <name>', 'with --from: this receiver\'s name in the box\'s uplink configuration')
    .option('--user <name>', 'with --from: the account to sign in as (role engineer or admin)')
    .option('--ca <file>', 'with --from: the CA (or the box\'s own certificate) the console\'s certificate must chain to')
    .option('--port <n>', 'listen here instead of the SDP\'s first port (behind a NAT or a proxy)', (v: string) => positiveNumber(v, '--port'))
    .option('--rtsp-port <n>', 'local RTSP port', (v: string) => positiveNumber(v, '--rtsp-port'), 8654)
    .option('--latency-ms <ms>', 'receive buffer: how long repair may take', (v: string) => positiveNumber(v, '--latency-ms'), 200)
    .option('--every <s>', 'print figures every this many seconds', (v: string) => positiveNumber(v, '--every'), 5)
    .action(async (opts: { sdp?: string; from?: string; receiver?: string; user?: string; ca?: string; port?: number; rtspPort: number; latencyMs: number; every: number }) => {
      let sdp: string;
      if (opts.from) {
        if (!opts.receiver || !opts.user) throw new InvalidArgumentError('--from needs --receiver and --user (the password comes on stdin)');
        const password = (await readStdin()).replace(/\r?\n$/, '');
        sdp = await fetchUplinkSdp({ url: opts.from, receiver: opts.receiver, user: opts.user, password, ca: opts.ca ? readFileSync(opts.ca) : undefined });
      } else if (opts.sdp) sdp = readFileSync(opts.sdp, 'utf8');
      else throw new InvalidArgumentError('give --sdp FILE, or --from URL --receiver NAME --user NAME');
      const rx = new UplinkReceiver({ sdp, port: opts.port, rtspPort: opts.rtspPort, latencyMs: opts.latencyMs });
      await rx.start();
      process.stdout.write(`orbox receive: ${rx.plan.channels.map((c) => `${c.name} on UDP ${c.rtpPort}`).join(', ')}; buffer ${opts.latencyMs} ms\n`);
      const timer = setInterval(() => { for (const s of rx.stats()) process.stdout.write(formatReceiverStats(s) + '\n'); }, opts.every * 1000);
      const stop = async () => { clearInterval(timer); await rx.close(); process.exit(0); };
      process.on('SIGTERM', () => void stop());
      process.on('SIGINT', () => void stop());
    });

  registerAuditCommands(program);
  const voice = program.command('voice').description('the talk session with a remote expert (duplex-voice): offer, start, stop, mute. The offer and the answer hold SRTP keys: move them only over an encrypted, authenticated channel');
  const vopts = (c: ReturnType<typeof voice.command>) => c.option('-c, --config <file>', 'configuration of the box').option('-s, --socket <path>', 'local API socket of the box');
  vopts(voice.command('sdp <peer>').description('print the box\'s offer SDP for <peer> (where to send, Opus, the box\'s a=crypto key); binds voice.port').option('-o, --out <file>', 'write it to a file (mode 0600)'))
    .action(async (peer: string, opts: { out?: string; socket?: string; config?: string }) => {
      const r = (await callLocalApi(socketFrom(opts), 'voiceSdp', { peer })) as { sdp: string };
      if (opts.out) writeFileSync(opts.out, r.sdp, { mode: 0o600 }); else process.stdout.write(r.sdp);
    });
  vopts(voice.command('start').description('start the talk session from the peer\'s answer SDP (one session per room)').requiredOption('--sdp <file>', 'the peer\'s answer (its address, payload type and a=crypto key)'))
    .action(async (opts: { sdp: string; socket?: string; config?: string }) => {
      const r = (await callLocalApi(socketFrom(opts), 'voiceStart', { sdp: readFileSync(opts.sdp, 'utf8') })) as { message: string };
      process.stdout.write(r.message + '\n');
    });
  vopts(voice.command('stop').description('end the talk session'))
    .action(async (opts: { socket?: string; config?: string }) => {
      process.stdout.write(((await callLocalApi(socketFrom(opts), 'voiceStop', {})) as { message: string }).message + '\n');
    });
  vopts(voice.command('mute [on|off]').description('mute the room mic towards the expert (on, the default) or open it (off: push-to-talk pressed)'))
    .action(async (state: string | undefined, opts: { socket?: string; config?: string }) => {
      if (state !== undefined && state !== 'on' && state !== 'off') throw new InvalidArgumentError(`mute: on or off, got "${state}"`);
      process.stdout.write(((await callLocalApi(socketFrom(opts), 'voiceMute', { on: state !== 'off' })) as { message: string }).message + '\n');
    });

  registerDevicesCommands(program);
  registerOtaCommands(program, registerFleetCommands(program), { callBox: (method, opts) => callLocalApi(socketFrom(opts), method) });
  registerCamerasCommands(program);
  registerProvisionCommands(program);
  return program;
}


export async function main(argv = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError) { process.stderr.write(`orbox: ${err.message}\n`); return 2; }
    process.stderr.write(`orbox: ${(err as Error).message}\n`);
    return 1;
  }
}

const code = await main();
if (code !== 0) process.exit(code);
