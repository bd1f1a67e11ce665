/**
 * The `orbox ota` commands (on the box and on the bench) and `orbox fleet ota` (the console):
 *   orbox ota status [--json]                     slots, booted, primary, versions, last job (local API)
 *   orbox ota bundle --version V --rootfs DIR|IMG --cert C --key K [--compatible C] [--out F]
 *   orbox fleet ota <box|group> <bundle.raucb|https URL> [--url U] [--sha256 H --version V --size N]
 *        [--first N] [--wave N] [--max-failures N] [--groups FILE] [--force] [--job ID]
 * Groups: a JSON file `{"<group>": ["box-1", "box-2"]}` (--groups or env ORBOX_FLEET_GROUPS).
 * Ctrl-C during a rollout cancels it (boxes not yet installing answer CANCELED). Exit code 1
 * when any box failed or the rollout stopped, 2 for bad arguments.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { FleetConsole, type FleetConsoleConfigInput } from '../fleet/index.js';
import type { OtaStatus } from './agent.js';
import { Rollout, describeBundle, progressBar, type BundleRef } from './rollout.js';
import type { JobProgress } from './fleet.js';

export interface OtaCliDeps {
  /** Calls the running box's local API (orbox status's path). */
  callBox: (method: string, opts: { socket?: string; config?: string }) => Promise<unknown>;
  out?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

const intOpt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};

/** Resolves a target: a group of the groups file, else one box id. */
export function resolveTargets(target: string, groupsFile: string | undefined): string[] {
  if (groupsFile) {
    let groups: Record<string, unknown>;
    try { groups = JSON.parse(readFileSync(groupsFile, 'utf8')) as Record<string, unknown>; } catch (err) {
      throw new InvalidArgumentError(`groups file ${groupsFile}: ${(err as Error).message}`);
    }
    const g = groups[target];
    if (g !== undefined) {
      if (!Array.isArray(g) || !g.every((x) => typeof x === 'string') || g.length === 0) throw new InvalidArgumentError(`groups file ${groupsFile}: group "${target}" must be a non-empty list of box ids`);
      return g as string[];
    }
  }
  return [target];
}

export function formatOtaStatus(s: OtaStatus): string {
  const lines = [`running ${s.runningVersion} on ${s.booted ?? '?'} (${s.bootedBootname ?? '?'}), primary ${s.primary ?? '?'}, this boot: ${s.bootMarked}`];
  for (const sl of s.slots) lines.push(`  ${sl.name.padEnd(10)} ${String(sl.bootname).padEnd(3)} ${String(sl.state).padEnd(9)} boot ${String(sl.bootStatus).padEnd(5)} ${sl.bundleVersion ?? '-'}${sl.installedTimestamp ? `  installed ${sl.installedTimestamp}` : ''}`);
  const j = s.lastJob;
  lines.push(j ? `last job ${j.jobId}: ${j.status} (${j.step} ${j.percent}%) ${j.version}: ${j.message}` : 'no job yet');
  if (s.queued) lines.push(`${s.queued} job(s) queued`);
  return lines.join('\n');
}

export function registerOtaCommands(program: Command, fleet: Command, deps: OtaCliDeps): void {
  const out = deps.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const env = deps.env ?? process.env;
  const ota = program.command('ota').description('over-the-air updates: this box\'s slots and jobs, and building signed bundles');
  ota.command('status')
    .description('slots (booted, primary, boot status, versions) and the last update job of the running box')
    .option('--json', 'machine-readable output')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (opts: { json?: boolean; socket?: string; config?: string }) => {
      const s = (await deps.callBox('otaStatus', opts)) as OtaStatus;
      out(opts.json ? JSON.stringify(s, null, 2) : formatOtaStatus(s));
    });
  ota.command('bundle')
    .description('build a signed RAUC bundle (plain format) of a root filesystem')
    .requiredOption('--version <v>', 'x.y.z')
    .requiredOption('--rootfs <dir|img>', 'root filesystem directory or image')
    .requiredOption('--cert <pem>', 'signing certificate (ota/signing.ts makes dev and release ones)')
    .requiredOption('--key <pem>', 'signing key')
    .option('--compatible <c>', 'the boxes\' RAUC compatible', 'orbox-x86-lab')
    .option('--out <file>', 'bundle file (default orbox-<version>.raucb)')
    .action(async (o: { version: string; rootfs: string; cert: string; key: string; compatible: string; out?: string }) => {
      const { buildBundle } = await import('../../ota/bundle.js');
      const b = buildBundle({ ...o, out: o.out ?? `orbox-${o.version}.raucb` });
      out(`${b.path}: ${b.bytes} bytes, sha256 ${b.sha256}, version ${b.version}, compatible ${b.compatible}`);
    });

  fleet.command('ota <target> <bundle>')
    .description('roll a signed bundle (a .raucb file, or its https URL) out to a box or a group, in waves, with a progress bar per box')
    .option('--url <url>', 'where the update server serves the bundle file (default <base>/<file name> with --base-url)')
    .option('--base-url <url>', 'the update server folder the bundle was uploaded to')
    .option('--sha256 <hex>', 'for a URL: the bundle\'s sha256')
    .option('--version <v>', 'for a URL: the version the bundle holds')
    .option('--size <bytes>', 'for a URL: the bundle\'s size', intOpt, 0)
    .option('--first <n>', 'boxes in the first wave', intOpt, 1)
    .option('--wave <n>', 'boxes per later wave (default: all the rest)', intOpt, 0)
    .option('--max-failures <n>', 'failures tolerated before the rollout stops', intOpt, 0)
    .option('--box-timeout <s>', 'a box without a final state after this long counts as failed', intOpt, 1800)
    .option('--groups <file>', 'fleet groups (JSON; env ORBOX_FLEET_GROUPS)')
    .option('--job <id>', 'job id prefix (default ota-<version>-<time>)')
    .option('--force', 'install while recording, reboot at once, allow an older version')
    .action(async (target: string, bundle: string, o: Record<string, string | number | boolean | undefined>, cmd: Command) => {
      const g = cmd.optsWithGlobals() as Record<string, string | undefined>;
      let ref: BundleRef;
      if (/^https:\/\//.test(bundle)) {
        if (!o.sha256 || !o.version) throw new InvalidArgumentError('a bundle URL needs --sha256 and --version (or give the .raucb file)');
        ref = { url: bundle, sha256: String(o.sha256), version: String(o.version), sizeBytes: Number(o.size) };
      } else {
        const url = (o.url as string | undefined) ?? (o.baseUrl ? `${String(o.baseUrl).replace(/\/$/, '')}/${basename(bundle)}` : undefined);
        if (!url) throw new InvalidArgumentError('a bundle file needs --url or --base-url: where the boxes download it from');
        ref = describeBundle(bundle, url);
      }
      const boxes = resolveTargets(target, (o.groups as string | undefined) ?? env.ORBOX_FLEET_GROUPS);
      const fc = new FleetConsole({ url: g.url ?? env.ORBOX_FLEET_URL, ca: g.ca ?? env.ORBOX_FLEET_CA, cert: g.cert ?? env.ORBOX_FLEET_CERT, key: g.key ?? env.ORBOX_FLEET_KEY } as FleetConsoleConfigInput);
      await fc.start();
      const latest = new Map<string, JobProgress>();
      const tty = process.stdout.isTTY;
      const draw = () => {
        if (!tty) return;
        process.stdout.write(`\x1b[${boxes.length}F`);
        for (const b of boxes) process.stdout.write(`\x1b[2K${progressBar(b, latest.get(b))}\n`);
      };
      if (tty) for (const b of boxes) out(progressBar(b, undefined));
      const r = new Rollout(fc, {
        ...ref, boxes, jobPrefix: (o.job as string | undefined) ?? `ota-${ref.version}-${Date.now().toString(36)}`, force: Boolean(o.force),
        firstWave: Number(o.first), waveSize: Number(o.wave), maxFailures: Number(o.maxFailures), boxTimeoutMs: Number(o.boxTimeout) * 1000,
        onProgress: (b, p) => {
          const prev = latest.get(b);
          latest.set(b, p);
          if (tty) draw();
          else if (!prev || prev.status !== p.status || prev.step !== p.step) out(progressBar(b, p));
        },
      });
      const onInt = () => { out('canceling the rollout...'); void r.cancel(); };
      process.once('SIGINT', onInt);
      try {
        const res = await r.run();
        for (const b of boxes) out(`${b}: ${res.outcomes[b]!.outcome} ${res.outcomes[b]!.message}`);
        out(`rollout ${res.stopped ? 'stopped' : 'done'}: ${res.reason}`);
        if (res.stopped || res.failures) process.exitCode = 1;
      } finally {
        process.off('SIGINT', onInt);
        await fc.close();
      }
    });
}
