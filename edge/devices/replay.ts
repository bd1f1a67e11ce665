/**
 * Replay of a raw device-to-box byte capture (raw-log.ts format, or a plain byte stream) through
 * the same driver the box runs, in passive mode (nothing is written back), and the `orbox
 * devices` CLI subcommands built on it:
 *
 *   orbox devices replay --protocol <intellivue|s5|medibus> --file <capture> [--json]
 *   orbox devices export --track <vitals track> --format <csv|vtt> [--video-start-ns <ns>]
 *
 * Samples carry the capture's read times as host time; a plain byte stream has none (0).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { resolvePortConfig } from './config.js';
import type { DriverHost } from './driver.js';
import { toCsvLines, toWebVtt } from './export.js';
import { createDriver } from './drivers.js';
import { parseRawCapture } from './raw-log.js';
import type { Timestamp } from '../lib/clock.js';
import { completeSample, PROTOCOLS, type Protocol, type SampleDraft, type VitalSample } from './sample.js';
import { readVitalsTrack } from './track.js';
import { sampleToJson } from './vitals-codec.js';

export interface ReplayResult {
  samples: VitalSample[];
  /** Driver and framer counters after the replay (bad checksums, aborts, ...). */
  stats: Record<string, number>;
  tornTail: boolean;
}

/** Decodes a capture (file bytes) for `protocol`; every sample is returned in order. */
export function replayCapture(protocol: Protocol, file: Uint8Array, port = 'replay'): ReplayResult {
  const cap = parseRawCapture(file);
  if (cap.protocol && cap.protocol !== protocol) throw new Error(`capture is ${cap.protocol}, not ${protocol}`);
  let now: Timestamp = { wallNs: 0n, monoNs: 0n };
  let seq = 0n;
  let deviceId = '';
  const samples: VitalSample[] = [];
  const host: DriverHost = {
    now: () => now,
    write: () => {},
    emit: (d: SampleDraft) => samples.push(completeSample({ ...d, ...(deviceId ? { deviceId } : {}) }, port, protocol, ++seq)),
    setState: () => {},
    setDeviceId: (id) => (deviceId = id),
  };
  const driver = createDriver(resolvePortConfig({ name: port, path: '-', protocol }), host, true);
  for (const c of cap.chunks) {
    if (c.at) now = c.at;
    driver.receive(c.bytes);
  }
  const fs = (driver as unknown as { framerStats?: () => Record<string, number> }).framerStats?.() ?? {};
  return { samples, stats: { ...fs, ...driver.stats }, tornTail: cap.tornTail };
}

function humanLine(s: VitalSample): string {
  const t = s.hostWallNs ? new Date(Number(s.hostWallNs / 1_000_000n)).toISOString() : '-';
  switch (s.kind) {
    case 'numeric':
      return `${t} ${s.label} ${s.value ?? '--'} ${s.unit}${s.stateFlags ? ` flags=0x${s.stateFlags.toString(16)}` : ''}`;
    case 'wave':
      return `${t} ${s.label} wave ${s.samples.length} samples @ ${Number(s.samplePeriodNs) / 1e6} ms`;
    case 'alarm':
      return `${t} ALARM ${s.alarmPriority} ${s.alarmText}`;
    case 'gap':
      return `${t} GAP ${s.gapReason}`;
  }
}

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Adds `devices replay` and `devices export` to the orbox CLI program. */
export function registerDevicesCommands(program: Command, io: CliIo = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') }): Command {
  const devices = program.command('devices').description('serial medical devices: replay captures, export vitals tracks');
  devices
    .command('replay')
    .description('decode a raw device-to-box byte capture and print its samples')
    .requiredOption('--protocol <protocol>', `one of ${PROTOCOLS.join(', ')}`)
    .requiredOption('--file <capture>', 'raw capture (orbox raw log, or plain bytes)')
    .option('--json', 'one JSON object per line')
    .action((opts: { protocol: string; file: string; json?: boolean }) => {
      if (!PROTOCOLS.includes(opts.protocol as Protocol)) {
        io.err(`--protocol must be one of ${PROTOCOLS.join(', ')}, got ${opts.protocol}`);
        process.exitCode = 2;
        return;
      }
      const r = replayCapture(opts.protocol as Protocol, new Uint8Array(readFileSync(opts.file)));
      for (const s of r.samples) io.out(opts.json ? JSON.stringify(sampleToJson(s)) : humanLine(s));
      io.err(`${r.samples.length} samples; ${Object.entries(r.stats).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(' ')}${r.tornTail ? '; torn tail ignored' : ''}`);
    });
  devices
    .command('export')
    .description('export a vitals track to CSV or WebVTT')
    .requiredOption('--track <file>', 'vitals track file')
    .requiredOption('--format <format>', 'csv or vtt')
    .option('--video-start-ns <ns>', 'box wall time of the video start (vtt; default: first sample)')
    .option('--waves', 'csv: one row per wave sample')
    .action((opts: { track: string; format: string; videoStartNs?: string; waves?: boolean }) => {
      const tr = readVitalsTrack(opts.track);
      if (opts.format === 'csv') for (const l of toCsvLines(tr.samples, { waves: opts.waves ? 'expand' : 'omit' })) io.out(l);
      else if (opts.format === 'vtt') {
        const start = opts.videoStartNs ? BigInt(opts.videoStartNs) : (tr.samples[0]?.hostWallNs ?? 0n);
        io.out(toWebVtt(tr.samples, { videoStartWallNs: start }).trimEnd());
      } else {
        io.err(`--format must be csv or vtt, got ${opts.format}`);
        process.exitCode = 2;
      }
    });
  return devices;
}
