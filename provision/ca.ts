/**
 * The device CA at the bench: the MQTT device PKI that signs each box's certificate (CN = box
 * id, the username the broker's ACL `orbox/v1/%u/#` expects) and publishes the CRL that
 * revokes a replaced identity. It is NOT the update-signing CA (ota/): two PKIs, kept apart.
 * Its key stays on the bench (or an HSM-backed successor); nothing of it but ca.crt goes on a box.
 *
 * The CA is a folder driven with the openssl CLI (`openssl ca`), the layout test-rig/fleet's
 * broker PKI uses too, so a test broker's CA can sign a provisioned box:
 *   ca.key (0600) ca.crt index.txt serial crlnumber crl.pem newcerts/<SERIAL>.pem
 *
 * Lifecycle: DeviceCa.create() makes a new CA (refuses a folder that has one); new DeviceCa()
 * opens an existing one. Every operation runs openssl to completion (no state held in memory).
 * One bench signs at a time: openssl ca's database has no lock of its own.
 *
 * Errors: CaError naming the CA folder and what was wrong (a CSR whose CN is not the box id, a
 * key that is not EC P-256, a CSR whose signature does not verify); ToolError from openssl.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from './tools.js';

export class CaError extends Error {
  constructor(readonly caDir: string, message: string) {
    super(`device CA ${caDir}: ${message}`);
    this.name = 'CaError';
  }
}

/** Box ids are MQTT topic levels and certificate CNs: the fleet's BOX_ID rule. */
export const BOX_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * An enrolment claim: what the bench writes onto a box that makes its own key at first boot.
 * The CA keeps only the token's SHA-256 (claims/<boxId>.json); the token is good once.
 */
export interface ClaimTicket {
  boxId: string;
  /** 32 random bytes, hex. */
  token: string;
  /** ISO time after which the CA refuses it. */
  expires: string;
}

export interface IssuedCert {
  boxId: string;
  /** Hex, upper case, as openssl's index.txt writes it. */
  serial: string;
  state: 'valid' | 'revoked' | 'expired';
  /** PEM; read from newcerts/. */
  pem: string;
}

function cnf(dir: string): string {
  // Absolute paths: the same text works whatever the current folder.
  return `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}/newcerts
certificate = ${dir}/ca.crt
private_key = ${dir}/ca.key
serial = ${dir}/serial
crlnumber = ${dir}/crlnumber
default_md = sha256
default_days = 825
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ ext_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`;
}

export class DeviceCa {
  readonly dir: string;
  readonly certPath: string;
  readonly crlPath: string;

  /** Opens the CA in `dir`; CaError when there is none. */
  constructor(dir: string) {
    this.dir = resolve(dir);
    this.certPath = join(this.dir, 'ca.crt');
    this.crlPath = join(this.dir, 'crl.pem');
    for (const f of ['ca.crt', 'ca.key', 'index.txt', 'serial']) {
      if (!existsSync(join(this.dir, f))) throw new CaError(this.dir, `no ${f}: not a device CA folder (make one with \`orbox fleet ca init ${dir}\`)`);
    }
  }

  /** Makes a new CA (EC P-256, 10 years) in `dir`; refuses a folder that already holds one. */
  static async create(dir: string, name = 'orbox device CA'): Promise<DeviceCa> {
    const d = resolve(dir);
    if (existsSync(join(d, 'ca.key')) || existsSync(join(d, 'ca.crt'))) throw new CaError(d, 'already holds a CA: refusing to overwrite it (every box it signed would be orphaned)');
    if (!/^[\w .-]{1,64}$/.test(name)) throw new RangeError(`device CA name: 1..64 letters, digits, space . - _, got ${JSON.stringify(name)}`);
    mkdirSync(join(d, 'newcerts'), { recursive: true, mode: 0o700 });
    writeFileSync(join(d, 'index.txt'), '');
    writeFileSync(join(d, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(join(d, 'serial'), '1000\n');
    writeFileSync(join(d, 'crlnumber'), '1000\n');
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(d, 'ca.key')]);
    chmodSync(join(d, 'ca.key'), 0o600);
    await run('openssl', ['req', '-x509', '-new', '-key', join(d, 'ca.key'), '-subj', `/CN=${name}`, '-days', '3650', '-sha256', '-out', join(d, 'ca.crt'),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const ca = new DeviceCa(d);
    await ca.writeCrl();
    return ca;
  }

  private async withCnf<T>(fn: (cnfPath: string, tmp: string) => Promise<T>): Promise<T> {
    const tmp = mkdtempSync(join(tmpdir(), 'orbox-ca-'));
    try {
      const p = join(tmp, 'ca.cnf');
      writeFileSync(p, cnf(this.dir));
      return await fn(p, tmp);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Rewrites crl.pem from the database (valid 30 days: re-run before it lapses). */
  async writeCrl(): Promise<void> {
    await this.withCnf((c) => run('openssl', ['ca', '-batch', '-config', c, '-gencrl', '-out', this.crlPath]));
  }

  /**
   * Signs a box's CSR. Checks first that its signature verifies, that its key is EC P-256 and
   * that its subject is exactly CN=<boxId>; the certificate's subject is set from `boxId`
   * whatever else the CSR asks for, and it gets only the clientAuth extensions.
   */
  async sign(csrPem: string, boxId: string): Promise<IssuedCert> {
    if (!BOX_ID_RE.test(boxId)) throw new RangeError(`box id must be 1..64 of [A-Za-z0-9._-] (it is a topic level and the CN), got ${JSON.stringify(boxId)}`);
    return this.withCnf(async (c, tmp) => {
      const csr = join(tmp, 'box.csr');
      writeFileSync(csr, csrPem);
      try {
        await run('openssl', ['req', '-in', csr, '-noout', '-verify']);
      } catch {
        throw new CaError(this.dir, `the CSR for ${boxId} does not verify (not a CSR, or its signature does not match its key)`);
      }
      const text = (await run('openssl', ['req', '-in', csr, '-noout', '-text'])).stdout.toString();
      if (!/id-ecPublicKey/.test(text) || !/(prime256v1|P-256)/.test(text)) throw new CaError(this.dir, `the CSR for ${boxId} is not for an EC P-256 key`);
      const subject = (await run('openssl', ['req', '-in', csr, '-noout', '-subject', '-nameopt', 'RFC2253'])).stdout.toString().trim();
      if (subject !== `subject=CN=${boxId}`) throw new CaError(this.dir, `the CSR's subject is "${subject.replace(/^subject=/, '')}", not CN=${boxId}`);
      const serial = readFileSync(join(this.dir, 'serial'), 'utf8').trim().toUpperCase();
      const out = join(tmp, 'box.crt');
      await run('openssl', ['ca', '-batch', '-config', c, '-extensions', 'ext_client', '-notext', '-subj', `/CN=${boxId}`, '-in', csr, '-out', out]);
      return { boxId, serial, state: 'valid' as const, pem: readFileSync(out, 'utf8') };
    });
  }

  /** Registers a one-time enrolment claim for `boxId` (replacing any earlier one), valid `ttlDays`. */
  async addClaim(boxId: string, ttlDays = 30): Promise<ClaimTicket> {
    if (!BOX_ID_RE.test(boxId)) throw new RangeError(`box id must be 1..64 of [A-Za-z0-9._-], got ${JSON.stringify(boxId)}`);
    const token = randomBytes(32).toString('hex');
    const expires = new Date(Date.now() + ttlDays * 86_400_000).toISOString();
    mkdirSync(join(this.dir, 'claims'), { recursive: true, mode: 0o700 });
    writeFileSync(join(this.dir, 'claims', `${boxId}.json`), JSON.stringify({ boxId, sha256: createHash('sha256').update(token).digest('hex'), expires }) + '\n', { mode: 0o600 });
    return { boxId, token, expires };
  }

  /**
   * Signs a CSR a box made itself, against its claim: the token must be the one registered for
   * that box id, unexpired and unused; it is consumed on success. Earlier certificates of the
   * box are revoked (superseded), as for a bench identity.
   */
  async signClaimed(csrPem: string, claim: { boxId: string; token: string }, now = new Date()): Promise<IssuedCert> {
    const f = join(this.dir, 'claims', `${claim.boxId}.json`);
    if (!BOX_ID_RE.test(claim.boxId) || !existsSync(f)) throw new CaError(this.dir, `no enrolment claim for box ${JSON.stringify(claim.boxId)} (used already, or never registered)`);
    const rec = JSON.parse(readFileSync(f, 'utf8')) as { sha256: string; expires: string };
    const got = createHash('sha256').update(String(claim.token)).digest();
    if (!timingSafeEqual(got, Buffer.from(rec.sha256, 'hex'))) throw new CaError(this.dir, `wrong enrolment token for box ${claim.boxId}`);
    if (now.getTime() > Date.parse(rec.expires)) throw new CaError(this.dir, `the enrolment claim of box ${claim.boxId} expired at ${rec.expires}`);
    const cert = await this.sign(csrPem, claim.boxId);
    rmSync(f);
    for (const c of this.issued(claim.boxId)) if (c.state === 'valid' && c.serial !== cert.serial) await this.revoke(c.serial, 'superseded');
    return cert;
  }

  /** Every certificate this CA issued for `boxId`, oldest first (from index.txt). */
  issued(boxId: string): IssuedCert[] {
    const out: IssuedCert[] = [];
    for (const line of readFileSync(join(this.dir, 'index.txt'), 'utf8').split('\n')) {
      const f = line.split('\t');
      if (f.length < 6 || f[5] !== `/CN=${boxId}`) continue;
      const state = f[0] === 'V' ? 'valid' : f[0] === 'R' ? 'revoked' : 'expired';
      const serial = f[3]!.toUpperCase();
      const file = join(this.dir, 'newcerts', `${serial}.pem`);
      out.push({ boxId, serial, state, pem: existsSync(file) ? readFileSync(file, 'utf8') : '' });
    }
    return out;
  }

  /** Revokes the certificate with `serial` (hex) and rewrites the CRL. Revoking a revoked one is a no-op. */
  async revoke(serial: string, reason: 'superseded' | 'keyCompromise' | 'cessationOfOperation' = 'superseded'): Promise<void> {
    const s = serial.toUpperCase();
    if (!/^[0-9A-F]+$/.test(s)) throw new RangeError(`certificate serial must be hex, got ${JSON.stringify(serial)}`);
    const line = readFileSync(join(this.dir, 'index.txt'), 'utf8').split('\n').find((l) => l.split('\t')[3]?.toUpperCase() === s);
    if (!line) throw new CaError(this.dir, `issued no certificate with serial ${s}`);
    if (line.startsWith('R')) return;
    await this.withCnf((c) => run('openssl', ['ca', '-batch', '-config', c, '-revoke', join(this.dir, 'newcerts', `${s}.pem`), '-crl_reason', reason]));
    await this.writeCrl();
  }

  /**
   * Checks `certPem` the way a broker will: `openssl verify` against this CA and its CRL.
   * Returns openssl's verdict line; throws CaError with openssl's reason when it fails.
   */
  async verify(certPem: string): Promise<string> {
    return this.withCnf(async (_c, tmp) => {
      const f = join(tmp, 'box.crt');
      writeFileSync(f, certPem);
      try {
        const said = (await run('openssl', ['verify', '-CAfile', this.certPath, '-CRLfile', this.crlPath, '-crl_check', '-purpose', 'sslclient', f])).stdout.toString().trim();
        return said.startsWith(`${f}: `) ? said.slice(f.length + 2) : said;
      } catch (err) {
        throw new CaError(this.dir, `certificate does not verify: ${(err as Error).message}`);
      }
    });
  }
}

/** Serial (hex, upper case) and CN of a certificate, read by openssl. */
export async function certInfo(certPem: string): Promise<{ serial: string; cn: string; notAfter: string }> {
  const { stdout } = await run('openssl', ['x509', '-noout', '-serial', '-subject', '-enddate', '-nameopt', 'RFC2253'], { input: certPem });
  const t = stdout.toString();
  return {
    serial: (/serial=([0-9A-Fa-f]+)/.exec(t)?.[1] ?? '').toUpperCase(),
    cn: /subject=CN=([^,\n]+)/.exec(t)?.[1] ?? '',
    notAfter: /notAfter=(.+)/.exec(t)?.[1]?.trim() ?? '',
  };
}
