/**
 * A box's identity: its id (from the board's immutable serial, never the room), its EC P-256
 * key and the certificate the device CA signed for it, and where they live on the box's data
 * partition. The same paths are what the written configuration points the fleet link at.
 *
 * makeKeyAndCsr() is used at the bench (bench path) and is what a box runs at first boot on
 * the enrolment path (enrol.ts), so the key then never leaves it.
 *
 * Errors: RangeError for a serial that cannot be a box id; ToolError from openssl.
 */
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOX_ID_RE } from './ca.js';
import { run } from './tools.js';

/** Where the data partition is mounted on the box (orbox.service reads /data/orbox/config.yaml). */
export const DATA_MOUNT = '/data';

/** Paths inside the data filesystem (prefix DATA_MOUNT on the running box). */
export const DATA_PATHS = {
  config: '/orbox/config.yaml',
  key: '/orbox/identity/box.key',
  cert: '/orbox/identity/box.crt',
  /** The device CA's certificate: what the box trusts the broker by (and what signed it). */
  ca: '/orbox/identity/fleet-ca.crt',
  /** The serial the identity was made from, for the box to compare with its board at boot. */
  serial: '/orbox/identity/serial',
  /** Enrolment path: the one-time claim the box presents with its CSR. */
  claim: '/orbox/identity/claim.json',
  /** The fleet link's outbox and command ledger. */
  queueDir: '/orbox/fleet',
  /** Recordings, catalog and the rest of box.dataDir. */
  dataDir: '/orbox',
} as const;

/**
 * The box id for a board serial: the serial itself (letters, digits, . _ -), optionally
 * prefixed (`orbox-`), so the id on the label, in the certificate and in topics is one string.
 */
export function boxIdFromSerial(serial: string, prefix = ''): string {
  const id = `${prefix}${serial.trim()}`;
  if (!BOX_ID_RE.test(id)) throw new RangeError(`serial ${JSON.stringify(serial)}${prefix ? ` with prefix "${prefix}"` : ''} cannot be a box id: 1..64 of letters, digits, . _ - (it is a certificate CN and an MQTT topic level)`);
  return id;
}

/** A new EC P-256 key (PKCS#8 PEM) and a CSR for CN=<boxId> signed with it. */
export async function makeKeyAndCsr(boxId: string): Promise<{ keyPem: string; csrPem: string }> {
  if (!BOX_ID_RE.test(boxId)) throw new RangeError(`box id must be 1..64 of [A-Za-z0-9._-], got ${JSON.stringify(boxId)}`);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const tmp = mkdtempSync(join(tmpdir(), 'orbox-key-'));
  try {
    const keyFile = join(tmp, 'box.key');
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    const { stdout } = await run('openssl', ['req', '-new', '-key', keyFile, '-subj', `/CN=${boxId}`, '-sha256']);
    return { keyPem, csrPem: stdout.toString() };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Whether `keyPem` is the private key of `certPem` (their public keys match). */
export function keyMatchesCert(keyPem: string, certPem: string): boolean {
  try {
    const pub = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const certPub = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    return Buffer.from(pub).equals(Buffer.from(certPub));
  } catch {
    return false;
  }
}
