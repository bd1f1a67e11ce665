/**
 * Builds a signed RAUC bundle of a root filesystem (issue 22): the rootfs (a directory, packed
 * with mksquashfs, or a ready image file) + a manifest with the box's `compatible` and `version`
 * -> `rauc bundle --cert --key`. Format `plain` here (this kernel has no device-mapper for
 * `verity`; boards build `verity`, set by `format`).
 *
 *   node dist/ota/bundle.js --version 1.2.0 --compatible orbox-x86-lab --rootfs DIR|IMG \
 *        --cert signing.pem --key signing.key --out orbox-1.2.0.raucb   (`make bundle`)
 *
 * Returns the bundle's path, size and sha256 (what a job document carries). Errors name the
 * option or the tool that failed, with its stderr.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

export interface BundleOptions {
  /** Semantic version x.y.z[-pre]: what anti-rollback compares. */
  version: string;
  /** Must equal the box's system.conf `compatible`, or RAUC refuses ("Compatible mismatch"). */
  compatible: string;
  /** A directory (packed to squashfs) or an image file used as is. */
  rootfs: string;
  cert: string;
  key: string;
  out: string;
  /** Default plain (see the header). */
  format?: 'plain' | 'verity';
  /** Slot class the image goes to; default rootfs. */
  slotClass?: string;
}

export interface BuiltBundle {
  path: string;
  bytes: number;
  sha256: string;
  version: string;
  compatible: string;
}

const VERSION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
const COMPATIBLE_RE = /^[A-Za-z0-9._-]{1,64}$/;

function run(tool: string, args: string[]): void {
  try {
    execFileSync(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`bundle: ${tool} failed: ${(e.stderr?.toString() || e.stdout?.toString() || String(err)).trim()}`);
  }
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function buildBundle(o: BundleOptions): BuiltBundle {
  if (!VERSION_RE.test(o.version)) throw new RangeError(`bundle: version must be x.y.z[-pre], not ${JSON.stringify(o.version)}`);
  if (!COMPATIBLE_RE.test(o.compatible)) throw new RangeError(`bundle: compatible must be 1..64 of [A-Za-z0-9._-], not ${JSON.stringify(o.compatible)}`);
  for (const k of ['rootfs', 'cert', 'key'] as const) {
    try { statSync(o[k]); } catch { throw new Error(`bundle: --${k} ${o[k]} does not exist`); }
  }
  const work = mkdtempSync(join(tmpdir(), 'orbox-bundle-'));
  try {
    const content = join(work, 'content');
    run('mkdir', ['-p', content]);
    if (statSync(o.rootfs).isDirectory()) run('mksquashfs', [o.rootfs, join(content, 'rootfs.img'), '-all-root', '-noappend', '-quiet', '-comp', 'gzip']);
    else copyFileSync(o.rootfs, join(content, 'rootfs.img'));
    writeFileSync(join(content, 'manifest.raucm'),
      `[update]\ncompatible=${o.compatible}\nversion=${o.version}\n\n[bundle]\nformat=${o.format ?? 'plain'}\n\n[image.${o.slotClass ?? 'rootfs'}]\nfilename=rootfs.img\n`);
    const out = resolve(o.out);
    rmSync(out, { force: true });
    run('rauc', ['bundle', `--cert=${resolve(o.cert)}`, `--key=${resolve(o.key)}`, content, out]);
    return { path: out, bytes: statSync(out).size, sha256: sha256File(out), version: o.version, compatible: o.compatible };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A tiny root filesystem for tests and the lab: /etc/orbox-version and a payload of `bytes`. */
export function makeTestRootfs(dir: string, version: string, bytes = 64 * 1024): string {
  run('mkdir', ['-p', join(dir, 'etc')]);
  writeFileSync(join(dir, 'etc', 'orbox-version'), `${version}\n`);
  // Incompressible, so the bundle has the size asked for (downloads are cut part-way in tests).
  const payload = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 32) createHash('sha256').update(`${version}:${i}`).digest().copy(payload, i);
  writeFileSync(join(dir, 'payload.bin'), payload);
  return dir;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: v } = parseArgs({ options: {
    version: { type: 'string' }, compatible: { type: 'string' }, rootfs: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
    out: { type: 'string' }, format: { type: 'string' }, 'test-rootfs': { type: 'boolean' },
  } });
  for (const k of ['version', 'compatible', 'cert', 'key', 'out'] as const) if (!v[k]) { console.error(`bundle: --${k} is required`); process.exit(2); }
  let rootfs = v.rootfs;
  let tmp: string | undefined;
  if (!rootfs && v['test-rootfs']) rootfs = makeTestRootfs(tmp = mkdtempSync(join(tmpdir(), 'orbox-rootfs-')), v.version!);
  if (!rootfs) { console.error('bundle: --rootfs DIR|IMG (or --test-rootfs) is required'); process.exit(2); }
  const b = buildBundle({ version: v.version!, compatible: v.compatible!, rootfs, cert: v.cert!, key: v.key!, out: v.out!, format: (v.format as 'plain' | 'verity' | undefined) });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  console.log(`${basename(b.path)}: ${b.bytes} bytes, sha256 ${b.sha256}, version ${b.version}, compatible ${b.compatible}`);
}
