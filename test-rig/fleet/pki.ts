/**
 * A test device PKI made with the openssl CLI: a CA (EC P-256), a broker certificate for the
 * loopback addresses, client certificates whose CN is the box id (or the console's name), and a
 * CRL. This stands in for the hospital's MQTT device CA; it is NOT the update-signing CA (ota/),
 * which stays a separate PKI.
 *
 * Layout of `dir` (reused when it already holds a CA, so the demo keeps its identities):
 *   ca.key ca.crt ca.cnf index.txt serial crlnumber crl.pem newcerts/
 *   server.key server.crt   clients/<id>.key clients/<id>.crt
 *
 * Errors: any openssl failure throws with its stderr. Synchronous (runs at test setup only).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface ClientCredentials {
  /** Certificate CN: the box id or the console's name. */
  id: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

const ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

export class TestPki {
  readonly dir: string;
  readonly caPath: string;
  readonly crlPath: string;
  readonly server: { cert: string; key: string };

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.caPath = join(this.dir, 'ca.crt');
    this.crlPath = join(this.dir, 'crl.pem');
    this.server = { cert: join(this.dir, 'server.crt'), key: join(this.dir, 'server.key') };
    if (!existsSync(this.caPath)) this.create();
  }

  private create(): void {
    const d = this.dir;
    mkdirSync(join(d, 'newcerts'), { recursive: true });
    mkdirSync(join(d, 'clients'), { recursive: true });
    writeFileSync(join(d, 'index.txt'), '');
    writeFileSync(join(d, 'serial'), '1000\n');
    writeFileSync(join(d, 'crlnumber'), '1000\n');
    writeFileSync(
      join(d, 'ca.cnf'),
      `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
certificate = ./ca.crt
private_key = ./ca.key
serial = ./serial
crlnumber = ./crlnumber
default_md = sha256
default_days = 825
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = copy
[ policy_any ]
commonName = supplied
[ ext_server ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
[ ext_client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`,
    );
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], d);
    openssl(
      ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=orbox test device CA', '-days', '3650', '-sha256', '-out', 'ca.crt',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
      d,
    );
    this.sign('server', 'server', 'ext_server', ['-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost']);
    this.writeCrl();
  }

  private sign(base: string, cn: string, ext: string, extra: string[] = []): void {
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-subj', `/CN=${cn}`, '-out', `${base}.csr`, ...extra], this.dir);
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-extensions', ext, '-notext', '-in', `${base}.csr`, '-out', `${base}.crt`], this.dir);
  }

  private writeCrl(): void {
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-gencrl', '-out', 'crl.pem'], this.dir);
  }

  /** Credentials for `id` (box id or console name), issued on first use. */
  client(id: string): ClientCredentials {
    if (!ID_RE.test(id)) throw new RangeError(`not a usable certificate CN / box id: ${id}`);
    const base = join('clients', id);
    const creds = { id, cert: join(this.dir, `${base}.crt`), key: join(this.dir, `${base}.key`) };
    if (!existsSync(creds.cert)) this.sign(base, id, 'ext_client');
    return creds;
  }

  /**
   * Revokes `id`'s certificate and rewrites the CRL. A running mosquitto reads the CRL at start:
   * restart it to apply.
   */
  revoke(id: string): void {
    const c = this.client(id);
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-revoke', c.cert], this.dir);
    this.writeCrl();
  }
}
