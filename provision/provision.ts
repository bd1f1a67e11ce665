/**
 * `orbox provision`: one box, at the bench. Flashes the fleet's image onto the box's disk and
 * gives it its identity and configuration on the data partition, then reads everything back.
 *
 * Steps (each reported through `onStep`, the flash's percentage through `onProgress`):
 *  1. config   the site's configuration template, made this box's (box.id and fleet.boxId from
 *              the serial, identity and data paths on /data), validated in full before anything
 *              is written;
 *  2. identity the identity already on the target's data partition, if any, is read first: a
 *              second provisioning keeps it (same key, same certificate) when it is this box's,
 *              matches its key and still verifies against the CA; `replaceIdentity` makes a new one;
 *  3. flash    bmaptool copy (flash.ts: mounted and system disks refused);
 *  4. sign     bench path: a new EC P-256 key and CSR made here, signed by the device CA; every
 *              earlier certificate of the box is revoked (superseded) and the CRL rewritten.
 *              Enrolment path: no key leaves the bench because none is made here; a one-time
 *              claim is written instead, for the box to enrol with at first boot (enrol.ts);
 *  5. write    config (0640), key (0600), certificate, CA certificate, serial: owned by the box's
 *              user, written into the data ext4 without mounting (ext4.ts);
 *  6. verify   partitions by sfdisk, rootfs-a and rootfs-b bytes against the image (SHA-256),
 *              every written file read back (SHA-256, mode, owner), the certificate through
 *              `openssl verify` with the CRL, the key against the certificate, the written
 *              configuration through the same validation as `orbox config check`.
 *
 * Errors: ConfigError (template), TargetRefused (flash.ts), CaError, ToolError, ProvisionError
 * (a verification that failed, naming what differs). Nothing is retried: a failed provisioning
 * is run again from the start, which is safe (step 2 keeps a good identity).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfig, validateConfig } from '../edge/config/index.js';
import { type ClaimTicket, type DeviceCa, certInfo } from './ca.js';
import { Ext4At, type Ext4File } from './ext4.js';
import { type FlashResult, flashImage } from './flash.js';
import { boxLayout, type PartitionName } from './layout.js';
import { DATA_MOUNT, DATA_PATHS, boxIdFromSerial, keyMatchesCert, makeKeyAndCsr } from './identity.js';

export class ProvisionError extends Error {
  constructor(readonly boxId: string, message: string) {
    super(`provisioning ${boxId}: ${message}`);
    this.name = 'ProvisionError';
  }
}

export type ProvisionStep = 'config' | 'identity' | 'flash' | 'sign' | 'write' | 'verify';

export interface ProvisionOptions {
  image: string;
  /** Default `<image>.bmap`. */
  bmap?: string;
  /** Block device or image file. */
  target: string;
  /** The board's immutable serial (label, eMMC CID, SoC UID); the box id is made from it. */
  serial: string;
  boxIdPrefix?: string;
  /** The site's configuration template (YAML or JSON): everything but the per-box fields. */
  configTemplate: string;
  /** The device CA (bench path signs with it; the enrolment path registers a claim with it). */
  ca: DeviceCa;
  /** 'bench' (default): key and certificate made here. 'enrol': the box makes its key at first boot. */
  mode?: 'bench' | 'enrol';
  /** Make a new identity even when the target holds a good one; the old certificate is revoked. */
  replaceIdentity?: boolean;
  /** uid/gid of the box's user on the root filesystem (orbox.service's User=orbox). Default 999. */
  boxUid?: number;
  boxGid?: number;
  onStep?: (step: ProvisionStep, detail: string) => void;
  onProgress?: (percent: number) => void;
  /** Tests: a stand-in for /proc/mounts. */
  mountsFile?: string;
}

export interface ProvisionSummary {
  boxId: string;
  target: string;
  mode: 'bench' | 'enrol';
  /** 'kept' = the identity found on the target; 'new' = made now; 'claim' = enrolment pending. */
  identity: 'kept' | 'new' | 'claim';
  certSerial?: string;
  certNotAfter?: string;
  /** Serials revoked by this run (superseded certificates). */
  revoked: string[];
  flash: FlashResult;
  /** SHA-256 of each file written, by its path on the box. */
  files: Record<string, string>;
  /** What was checked after writing, one line each. */
  verified: string[];
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** SHA-256 of `length` bytes of `file` from `offset`. */
function hashRegion(file: string, offset: number, length: number): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(1024 * 1024);
  try {
    for (let done = 0; done < length;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, length - done), offset + done);
      if (n === 0) throw new Error(`${file}: ends at byte ${offset + done}, before ${offset + length}`);
      h.update(buf.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** The template made this box's; throws ConfigError listing every problem. */
export function boxConfig(templateFile: string, boxId: string): string {
  const raw = parse(readFileSync(templateFile, 'utf8')) as Record<string, unknown> | null;
  if (!raw || typeof raw !== 'object') throw new ProvisionError(boxId, `configuration template ${templateFile} is not a YAML/JSON object`);
  const on = (p: string) => `${DATA_MOUNT}${p}`;
  const box = { ...(raw.box as object | undefined), id: boxId, dataDir: on(DATA_PATHS.dataDir) };
  const doc: Record<string, unknown> = { ...raw, box };
  if (raw.fleet !== undefined) {
    doc.fleet = { ...(raw.fleet as object), boxId, ca: on(DATA_PATHS.ca), cert: on(DATA_PATHS.cert), key: on(DATA_PATHS.key), queueDir: on(DATA_PATHS.queueDir) };
  }
  validateConfig(doc, `configuration for ${boxId} (from ${templateFile})`, on(DATA_PATHS.dataDir));
  return `# ${boxId}: written by orbox provision from ${templateFile.split('/').pop()}\n` + stringify(doc);
}

interface FoundIdentity { keyPem: string; certPem: string; serial: string }

/** The identity on the target's data partition, if it has one that is this box's, matches its key and verifies. */
async function existingIdentity(target: string, boxId: string, ca: DeviceCa): Promise<{ found?: FoundIdentity; why: string }> {
  if (!existsSync(target)) return { why: 'target is new' };
  let data: Ext4At;
  try {
    data = new Ext4At(target, (await boxLayout(target)).data.offset);
  } catch {
    return { why: 'target holds no orbox disk' };
  }
  try {
    const [keyPem, certPem] = [(await data.read(DATA_PATHS.key)).toString(), (await data.read(DATA_PATHS.cert)).toString()];
    const info = await certInfo(certPem);
    if (info.cn !== boxId) return { why: `target holds the identity of ${info.cn}, not ${boxId}` };
    if (!keyMatchesCert(keyPem, certPem)) return { why: 'the key on the target does not match its certificate' };
    try {
      await ca.verify(certPem);
    } catch (err) {
      return { why: `its certificate ${info.serial} no longer verifies (${(err as Error).message.split(': ').pop()})` };
    }
    return { found: { keyPem, certPem, serial: info.serial }, why: `certificate ${info.serial}` };
  } catch {
    return { why: 'target holds no identity' };
  }
}

/** Provisions one box; see the module header. Resolves with the summary once everything verified. */
export async function provisionBox(o: ProvisionOptions): Promise<ProvisionSummary> {
  const step = o.onStep ?? (() => {});
  const mode = o.mode ?? 'bench';
  const uid = o.boxUid ?? 999;
  const gid = o.boxGid ?? 999;
  const boxId = boxIdFromSerial(o.serial, o.boxIdPrefix);
  const bmap = o.bmap ?? `${o.image}.bmap`;

  const configText = boxConfig(o.configTemplate, boxId);
  step('config', `configuration for ${boxId} valid`);

  const prior = mode === 'bench' && !o.replaceIdentity ? await existingIdentity(o.target, boxId, o.ca) : { found: undefined, why: o.replaceIdentity ? 'replacement asked for' : 'enrolment' };
  step('identity', prior.found ? `keeping the identity on the target (${prior.why})` : `new identity (${prior.why})`);

  const flash = await flashImage(o.image, bmap, o.target, o.onProgress, { mountsFile: o.mountsFile });
  step('flash', `${o.image} -> ${flash.target.path} in ${(flash.ms / 1000).toFixed(1)} s${flash.summary ? ` (${flash.summary})` : ''}`);

  const revoked: string[] = [];
  let keyPem: string | undefined;
  let certPem: string | undefined;
  let claim: ClaimTicket | undefined;
  let identity: ProvisionSummary['identity'];
  if (mode === 'enrol') {
    claim = await o.ca.addClaim(boxId);
    identity = 'claim';
    step('sign', `enrolment claim registered for ${boxId} (valid until ${claim.expires}); the box makes its key at first boot`);
  } else if (prior.found) {
    ({ keyPem, certPem } = prior.found);
    identity = 'kept';
    step('sign', `kept certificate ${prior.found.serial}`);
  } else {
    const made = await makeKeyAndCsr(boxId);
    const cert = await o.ca.sign(made.csrPem, boxId);
    keyPem = made.keyPem;
    certPem = cert.pem;
    identity = 'new';
    // One valid certificate per box: whatever was issued before is superseded.
    for (const c of o.ca.issued(boxId)) {
      if (c.state === 'valid' && c.serial !== cert.serial) { await o.ca.revoke(c.serial, 'superseded'); revoked.push(c.serial); }
    }
    step('sign', `certificate ${cert.serial} signed by ${o.ca.certPath}${revoked.length ? `; revoked ${revoked.join(', ')} (CRL rewritten: publish ${o.ca.crlPath} to the broker)` : ''}`);
  }

  const layout = await boxLayout(flash.target.path);
  const data = new Ext4At(flash.target.path, layout.data.offset);
  const files: Ext4File[] = [
    { path: DATA_PATHS.config, content: configText, mode: 0o640, uid, gid },
    { path: DATA_PATHS.ca, content: readFileSync(o.ca.certPath), mode: 0o644, uid, gid },
    { path: DATA_PATHS.serial, content: `${o.serial.trim()}\n`, mode: 0o644, uid, gid },
  ];
  if (keyPem && certPem) {
    files.push({ path: DATA_PATHS.key, content: keyPem, mode: 0o600, uid, gid }, { path: DATA_PATHS.cert, content: certPem, mode: 0o644, uid, gid });
  }
  if (claim) files.push({ path: DATA_PATHS.claim, content: JSON.stringify(claim) + '\n', mode: 0o600, uid, gid });
  await data.write(files);
  step('write', `${files.length} files on the data partition (${files.map((f) => f.path).join(', ')})`);

  // Read back and verify with what the box will read.
  const verified: string[] = [];
  const back = await boxLayout(flash.target.path);
  verified.push(`partitions (sfdisk): ${(['boot', 'rootfs-a', 'rootfs-b', 'data'] as PartitionName[]).map((n) => `${n} ${back[n].size / 1048576} MiB`).join(', ')}`);
  const imgLayout = await boxLayout(o.image);
  for (const n of ['boot', 'rootfs-a', 'rootfs-b'] as PartitionName[]) {
    const want = hashRegion(o.image, imgLayout[n].offset, imgLayout[n].size);
    const got = hashRegion(flash.target.path, back[n].offset, back[n].size);
    if (want !== got) throw new ProvisionError(boxId, `${n} on ${o.target} differs from the image (sha256 ${got.slice(0, 12)} vs ${want.slice(0, 12)})`);
  }
  verified.push('boot, rootfs-a, rootfs-b: bytes equal to the image (sha256)');
  const hashes: Record<string, string> = {};
  for (const f of files) {
    const st = await data.stat(f.path);
    const got = await data.read(f.path);
    if (sha256(got) !== sha256(f.content) || !st || (st.mode & 0o7777) !== f.mode || st.uid !== uid) throw new ProvisionError(boxId, `${f.path} reads back wrong`);
    hashes[`${DATA_MOUNT}${f.path}`] = sha256(got);
  }
  verified.push(`${files.length} files read back: sha256, mode and owner ${uid}:${gid} as written (key 0600)`);
  let certSerial: string | undefined;
  let certNotAfter: string | undefined;
  if (certPem && keyPem) {
    const certBack = (await data.read(DATA_PATHS.cert)).toString();
    verified.push(`certificate: ${await o.ca.verify(certBack)} (openssl verify, CA ${o.ca.certPath}, CRL checked)`);
    if (!keyMatchesCert((await data.read(DATA_PATHS.key)).toString(), certBack)) throw new ProvisionError(boxId, 'the key written does not match the certificate written');
    verified.push('key matches the certificate');
    const info = await certInfo(certBack);
    if (info.cn !== boxId) throw new ProvisionError(boxId, `the certificate's CN is ${info.cn}`);
    certSerial = info.serial;
    certNotAfter = info.notAfter;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'orbox-provision-'));
  try {
    const f = join(tmp, 'config.yaml');
    writeFileSync(f, await data.read(DATA_PATHS.config));
    const c = loadConfig(f);
    if (c.box.id !== boxId) throw new ProvisionError(boxId, `the written configuration names box ${c.box.id}`);
    verified.push(`configuration: valid (orbox config check), box ${c.box.id}${c.fleet ? `, fleet ${c.fleet.url} as ${c.fleet.boxId}` : ', no fleet link'}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  step('verify', verified.join('; '));
  return { boxId, target: flash.target.path, mode, identity, certSerial, certNotAfter, revoked, flash, files: hashes, verified };
}
