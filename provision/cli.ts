/**
 * The bench commands, registered on the `orbox` program (edge/cli/main.ts):
 *
 *   orbox provision <image> <target> --serial S --ca DIR --config TEMPLATE
 *                   [--enrol] [--replace-identity] [--prefix P] [--uid N] [--gid N] [--json]
 *   orbox image build --boot DIR --rootfs DIR -o OUT [--size name=MiB ...] [--slot-b copy|empty]
 *   orbox fleet ca init DIR [--name N]
 *   orbox fleet ca sign DIR --box ID --csr FILE [-o FILE]
 *   orbox fleet ca revoke DIR (--box ID | --serial HEX)
 *   orbox fleet ca list DIR --box ID
 *
 * `provision` shows a progress bar on a terminal (stderr) and ends with a summary on stdout (or
 * one JSON object with --json). Exit codes: 0 done and verified; 1 a step failed (the message
 * names it; nothing is left half-verified silently); 2 bad usage, a refused target or an
 * invalid configuration template.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../edge/config/index.js';
import { DeviceCa } from './ca.js';
import { TargetRefused } from './flash.js';
import { buildImage } from './image.js';
import { PARTITION_NAMES, type PartitionName } from './layout.js';
import { type ProvisionStep, provisionBox } from './provision.js';

export interface ProvisionCliDeps {
  out?: (line: string) => void;
  err?: NodeJS.WriteStream;
  setExitCode?: (code: number) => void;
}

function intOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${v}"`);
  return n;
}

function sizeOption(v: string, prev: Partial<Record<PartitionName, number>> = {}): Partial<Record<PartitionName, number>> {
  const m = /^([a-z-]+)=(\d+)$/.exec(v);
  if (!m || !(PARTITION_NAMES as readonly string[]).includes(m[1]!)) throw new InvalidArgumentError(`expected name=MiB with name one of ${PARTITION_NAMES.join(', ')}, got "${v}"`);
  return { ...prev, [m[1]!]: Number(m[2]) };
}

/** A one-line bar on a terminal; on a pipe, a line at each quarter. */
function progressBar(stream: NodeJS.WriteStream): { update(p: number): void; done(): void } {
  let last = -1;
  return {
    update(p: number) {
      if (stream.isTTY) {
        if (p === last) return;
        const w = 30;
        const f = Math.round((p / 100) * w);
        stream.write(`\r  flashing [${'#'.repeat(f)}${'.'.repeat(w - f)}] ${String(p).padStart(3)}%`);
      } else if (Math.floor(p / 25) > Math.floor(last / 25)) {
        stream.write(`  flashing ${p}%\n`);
      }
      last = p;
    },
    done() { if (stream.isTTY && last >= 0) stream.write('\n'); },
  };
}

/** Adds `provision`, `image build` and `fleet ca ...` to `program` (after registerFleetCommands). */
export function registerProvisionCommands(program: Command, deps: ProvisionCliDeps = {}): void {
  const out = deps.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const err = deps.err ?? process.stderr;
  const setExit = deps.setExitCode ?? ((c: number) => { process.exitCode = c; });
  const fail = (what: string, e: unknown) => {
    out(`${what}: ${(e as Error).message}`);
    setExit(e instanceof TargetRefused || e instanceof ConfigError || e instanceof RangeError || e instanceof InvalidArgumentError ? 2 : 1);
  };

  program.command('provision <image> <target>')
    .description('flash the box image onto a disk (or image file) with bmaptool, give the box its identity and configuration on its data partition, read everything back')
    .requiredOption('--serial <serial>', "the board's immutable serial (label, eMMC CID, SoC UID): the box id is made from it")
    .requiredOption('--ca <dir>', 'the device CA folder (orbox fleet ca init)')
    .requiredOption('--config <file>', "the site's configuration template; box id, identity and data paths are filled in")
    .option('--bmap <file>', 'block map of the image (default <image>.bmap)')
    .option('--enrol', 'do not make a key here: write a one-time claim; the box makes its key at first boot and enrols')
    .option('--replace-identity', "make a new key and certificate even if the target holds this box's; the old certificate is revoked")
    .option('--prefix <p>', 'box id = prefix + serial', '')
    .option('--uid <n>', "uid of the box's user (owner of its files)", intOption, 999)
    .option('--gid <n>', "gid of the box's user", intOption, 999)
    .option('--json', 'print the summary as JSON')
    .action(async (image: string, target: string, o: { serial: string; ca: string; config: string; bmap?: string; enrol?: boolean; replaceIdentity?: boolean; prefix: string; uid: number; gid: number; json?: boolean }) => {
      const bar = progressBar(err);
      const names: Record<ProvisionStep, string> = { config: 'config', identity: 'identity', flash: 'flash', sign: 'certificate', write: 'write', verify: 'verify' };
      try {
        const ca = new DeviceCa(o.ca);
        const s = await provisionBox({
          image, target, serial: o.serial, boxIdPrefix: o.prefix, configTemplate: o.config, ca, bmap: o.bmap,
          mode: o.enrol ? 'enrol' : 'bench', replaceIdentity: o.replaceIdentity, boxUid: o.uid, boxGid: o.gid,
          onProgress: (p) => bar.update(p),
          onStep: (step, detail) => { if (step === 'flash') bar.done(); if (!o.json) err.write(`  ${names[step].padEnd(11)} ${detail}\n`); },
        });
        if (o.json) { out(JSON.stringify(s)); return; }
        out(`provisioned ${s.boxId} on ${s.target}`);
        out(`  identity   ${s.identity === 'kept' ? 'kept' : s.identity === 'new' ? 'new' : 'enrolment claim (the box makes its key at first boot)'}${s.certSerial ? `: certificate ${s.certSerial}, CN=${s.boxId}, valid until ${s.certNotAfter}` : ''}`);
        if (s.revoked.length) out(`  revoked    ${s.revoked.join(', ')} (copy ${ca.crlPath} to the broker and reload it)`);
        for (const [path, h] of Object.entries(s.files)) out(`  wrote      ${path}  sha256 ${h.slice(0, 16)}`);
        for (const v of s.verified) out(`  verified   ${v}`);
      } catch (e) {
        bar.done();
        fail('provision', e);
      }
    });

  const image = program.command('image').description('box disk images');
  image.command('build')
    .description('build a box disk image (GPT: boot vfat, rootfs-a, rootfs-b, data ext4) and its .bmap, without mounting')
    .requiredOption('--boot <dir>', 'files for the boot partition')
    .requiredOption('--rootfs <dir>', 'root filesystem tree')
    .requiredOption('-o, --out <file>', 'output image (the .bmap goes next to it)')
    .option('--size <name=MiB>', `partition size, repeatable (${PARTITION_NAMES.join(', ')})`, sizeOption, {})
    .option('--slot-b <copy|empty>', 'slot B: a copy of A, or empty for the first update', 'copy')
    .option('--uid <n>', "uid of the box's user", intOption, 999)
    .option('--gid <n>', "gid of the box's user", intOption, 999)
    .action(async (o: { boot: string; rootfs: string; out: string; size: Partial<Record<PartitionName, number>>; slotB: string; uid: number; gid: number }) => {
      try {
        if (o.slotB !== 'copy' && o.slotB !== 'empty') throw new InvalidArgumentError(`--slot-b is copy or empty, got "${o.slotB}"`);
        const r = await buildImage({ out: o.out, bootDir: o.boot, rootfsDir: o.rootfs, sizesMiB: o.size, slotB: o.slotB, boxUid: o.uid, boxGid: o.gid });
        out(`${r.image}: ${(r.sizeBytes / 1048576).toFixed(0)} MiB, ${(r.mappedBytes / 1048576).toFixed(1)} MiB mapped; ${r.bmap}`);
        for (const [n, p] of Object.entries(r.partitions)) out(`  ${n.padEnd(9)} at ${p.offset / 1048576} MiB, ${p.size / 1048576} MiB`);
      } catch (e) {
        fail('image build', e);
      }
    });

  const fleet = program.commands.find((c) => c.name() === 'fleet') ?? program.command('fleet');
  const ca = fleet.command('ca').description('the device CA at the bench (MQTT identities; not the update-signing CA)');
  ca.command('init <dir>')
    .description('make a new device CA (EC P-256) in an empty folder')
    .option('--name <cn>', 'its CN', 'orbox device CA')
    .action(async (dir: string, o: { name: string }) => {
      try {
        const c = await DeviceCa.create(dir, o.name);
        out(`device CA ${c.dir}: ${c.certPath} (give this to the broker as its cafile), CRL ${c.crlPath}; keep ca.key off the boxes`);
      } catch (e) { fail('fleet ca init', e); }
    });
  ca.command('sign <dir>')
    .description("sign a box's CSR (its CN must be the box id)")
    .requiredOption('--box <id>', 'box id')
    .requiredOption('--csr <file>', 'the CSR (PEM)')
    .option('-o, --out <file>', 'write the certificate here (default stdout)')
    .action(async (dir: string, o: { box: string; csr: string; out?: string }) => {
      try {
        const c = await new DeviceCa(dir).sign(readFileSync(o.csr, 'utf8'), o.box);
        if (o.out) { writeFileSync(o.out, c.pem); out(`${o.box}: certificate ${c.serial} -> ${o.out}`); } else out(c.pem.trimEnd());
      } catch (e) { fail('fleet ca sign', e); }
    });
  ca.command('revoke <dir>')
    .description('revoke certificates (all of a box, or one serial) and rewrite the CRL')
    .option('--box <id>', 'every valid certificate of this box')
    .option('--serial <hex>', 'one certificate')
    .action(async (dir: string, o: { box?: string; serial?: string }) => {
      try {
        const c = new DeviceCa(dir);
        const serials = o.serial ? [o.serial] : o.box ? c.issued(o.box).filter((x) => x.state === 'valid').map((x) => x.serial) : [];
        if (!o.serial && !o.box) throw new InvalidArgumentError('give --box or --serial');
        for (const s of serials) await c.revoke(s, o.box ? 'cessationOfOperation' : 'superseded');
        out(`revoked ${serials.join(', ') || 'nothing (no valid certificate)'}; CRL ${c.crlPath}: copy it to the broker and reload it`);
      } catch (e) { fail('fleet ca revoke', e); }
    });
  ca.command('list <dir>')
    .description("a box's certificates")
    .requiredOption('--box <id>', 'box id')
    .action((dir: string, o: { box: string }) => {
      try {
        for (const c of new DeviceCa(dir).issued(o.box)) out(`${c.serial}\t${c.state}`);
      } catch (e) { fail('fleet ca list', e); }
    });
}
