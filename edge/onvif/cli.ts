/**
 * `orbox cameras discover [--json] [--to HOST:PORT] [--timeout MS] [--interface ADDR] [--credentials FILE]`:
 * WS-Discovery on the box's LAN (or one device by unicast with --to), then each device's
 * profiles and stream URIs (with the credentials file's `user:password`, else without: a
 * device that refuses is listed as needing credentials). Human lines, or one JSON array.
 * Exit codes: 0 (also when nothing answered), 2 usage.
 * Runs on: the CLI's process (no running box needed).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { probe, type DiscoveredDevice } from './discovery.js';
import { OnvifAuthError } from './errors.js';
import { OnvifClient, type Credentials, type OnvifProfile } from './soap.js';

export interface CameraReport extends DiscoveredDevice {
  credentialsNeeded: boolean;
  profiles: (OnvifProfile & { streamUri?: string })[];
  error?: string;
}

/** Profiles and stream URIs of one discovered device. */
export async function describeCamera(d: DiscoveredDevice, credentials?: Credentials, timeoutMs = 3000): Promise<CameraReport> {
  const r: CameraReport = { ...d, credentialsNeeded: false, profiles: [] };
  try {
    const c = new OnvifClient(d.xaddrs[0], { credentials, timeoutMs });
    const media = await c.mediaUrl();
    for (const p of (await c.profiles(media)).slice(0, 16)) r.profiles.push({ ...p, streamUri: await c.streamUri(p.token, media).catch(() => undefined) });
  } catch (e) {
    if (e instanceof OnvifAuthError) r.credentialsNeeded = true;
    r.error = (e as Error).message;
  }
  return r;
}

export function registerCamerasCommands(program: Command): Command {
  const cameras = program.command('cameras').description('ONVIF IP cameras on the box\'s LAN');
  cameras.command('discover')
    .description('find ONVIF cameras (WS-Discovery), with their model, profiles and stream URIs')
    .option('--json', 'one JSON array')
    .option('--to <host:port>', 'probe one device by unicast instead of the multicast group')
    .option('--timeout <ms>', 'how long to collect answers', '2000')
    .option('--interface <addr>', 'local IPv4 address to probe from (multicast interface)')
    .option('--credentials <file>', 'user:password on the first line, to read profiles of cameras that need it')
    .action(async (o: { json?: boolean; to?: string; timeout: string; interface?: string; credentials?: string }) => {
      let to: { host: string; port: number } | undefined;
      if (o.to) {
        const m = /^([^:\s]+):(\d{1,5})$/.exec(o.to);
        if (!m) { process.stderr.write(`--to must be host:port, got ${o.to}\n`); process.exitCode = 2; return; }
        to = { host: m[1], port: Number(m[2]) };
      }
      let credentials: Credentials | undefined;
      if (o.credentials) {
        const line = readFileSync(o.credentials, 'utf8').split('\n')[0].trim();
        const i = line.indexOf(':');
        if (i <= 0) { process.stderr.write(`${o.credentials}: the first line is not user:password\n`); process.exitCode = 2; return; }
        credentials = { user: line.slice(0, i), password: line.slice(i + 1) };
      }
      const { devices } = await probe({ to, timeoutMs: Number(o.timeout), bindAddress: o.interface });
      const reports = await Promise.all(devices.map((d) => describeCamera(d, credentials)));
      if (o.json) { process.stdout.write(JSON.stringify(reports, null, 2) + '\n'); return; }
      if (reports.length === 0) process.stdout.write('no ONVIF camera answered\n');
      for (const r of reports) {
        process.stdout.write(`${r.name ?? '(no name)'}  model ${r.model ?? '?'}  ${r.xaddrs[0]}  ${r.endpoint}${r.credentialsNeeded ? '  credentials needed' : ''}\n`);
        for (const p of r.profiles) process.stdout.write(`  profile ${p.token} "${p.name}" ${p.encoding ?? '?'} ${p.width ?? '?'}x${p.height ?? '?'}@${p.fps ?? '?'}  ${p.streamUri ?? ''}\n`);
        if (r.error && !r.credentialsNeeded) process.stdout.write(`  ${r.error}\n`);
      }
    });
  return cameras;
}
