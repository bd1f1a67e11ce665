/**
 * Update-signing PKI (issue 22): a development CA and a release CA, each with one code-signing
 * certificate, made with openssl. Kept apart from the fleet's MQTT device PKI on purpose: a key
 * that can sign firmware must never be one that can talk to the broker, and the release CA's key
 * belongs offline (an HSM or a signing host), not on a build machine that also makes dev bundles.
 *
 *   node dist/ota/signing.js <dir> [dev|release]   (`make ota-ca`)
 *
 * Layout of <dir>/<kind>/: ca.key, ca.pem (the keyring a box trusts), signing.key, signing.pem.
 * Signing certificates carry extendedKeyUsage=codeSigning, so the box's RAUC system.conf needs
 * `[keyring] check-purpose=codesign` (RAUC refuses them otherwise: "unsuitable certificate purpose").
 * Idempotent: an existing CA is reused, never overwritten. Errors: openssl's stderr, with the step.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export type SigningKind = 'dev' | 'release';

export interface SigningCa {
  kind: SigningKind;
  dir: string;
  /** The keyring: what a box's system.conf `[keyring] path` points at. */
  caCert: string;
  caKey: string;
  /** The certificate and key `rauc bundle --cert --key` signs with. */
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string, step: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer };
    throw new Error(`signing CA: ${step} failed in ${cwd}: ${e.stderr?.toString().trim() ?? String(err)}`);
  }
}

/** Makes (or reuses) the `kind` signing CA under `root/kind`. */
export function ensureSigningCa(root: string, kind: SigningKind): SigningCa {
  if (kind !== 'dev' && kind !== 'release') throw new RangeError(`signing CA: kind must be dev or release, not ${String(kind)}`);
  const dir = resolve(root, kind);
  const ca: SigningCa = { kind, dir, caCert: join(dir, 'ca.pem'), caKey: join(dir, 'ca.key'), cert: join(dir, 'signing.pem'), key: join(dir, 'signing.key') };
  if (existsSync(ca.cert) && existsSync(ca.caCert)) return ca;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const name = kind === 'dev' ? 'orbox development' : 'orbox release';
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-sha256',
    '-subj', `/O=orbox/CN=${name} update CA`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir, 'CA certificate');
  writeFileSync(join(dir, 'signing.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'signing.key', '-out', 'signing.csr', '-subj', `/O=orbox/CN=${name} bundle signing`], dir, 'signing CSR');
  openssl(['x509', '-req', '-in', 'signing.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'signing.pem', '-days', '1825', '-sha256', '-extfile', 'signing.ext'], dir, 'signing certificate');
  return ca;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, kind = 'dev'] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: signing.js <dir> [dev|release]');
    process.exit(2);
  }
  const ca = ensureSigningCa(dir, kind as SigningKind);
  console.log(`${ca.kind} signing CA in ${ca.dir}: keyring ${ca.caCert}, signing cert ${ca.cert}`);
}
