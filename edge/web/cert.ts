/**
 * The console's TLS certificate: the configured one (the box's, from the device CA), or a
 * self-signed one made once with the openssl CLI under `<dir>/` (key 0600) and reused after, for
 * the demo and a box not yet provisioned. Runs on the control worker at start (openssl takes
 * about 0.1 s for an EC P-256 key). Errors name the file or the openssl failure.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TlsFiles { cert: Buffer; key: Buffer; certPath: string; selfSigned: boolean }

export function loadOrMakeCert(opts: { certFile?: string; keyFile?: string; dir: string; commonName: string; hosts: string[] }): TlsFiles {
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile) throw new Error('web: certFile and keyFile go together (one is missing)');
    for (const f of [opts.certFile, opts.keyFile]) if (!existsSync(f)) throw new Error(`web: TLS file ${f} does not exist`);
    return { cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile), certPath: opts.certFile, selfSigned: false };
  }
  const certPath = join(opts.dir, 'self-signed.crt');
  const keyPath = join(opts.dir, 'self-signed.key');
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    const san = opts.hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '825',
        '-subj', `/CN=${opts.commonName}`, '-addext', `subjectAltName=${san}`,
        '-keyout', keyPath, '-out', certPath,
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      throw new Error(`web: making a self-signed certificate in ${opts.dir} with openssl failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
    }
    chmodSync(keyPath, 0o600);
  }
  return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath, selfSigned: true };
}
