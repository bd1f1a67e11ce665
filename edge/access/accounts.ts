/**
 * Local accounts of the box: who may sign in to the web console (and, with #21, to RTSP),
 * with which role. One JSON file in the data dir (`<dataDir>/access/accounts.json`, mode 0600),
 * rewritten whole and atomically (temporary file, fsync, rename, fsync of the folder), so a power
 * cut leaves the old file or the new one, never half of one.
 *
 * Passwords are stored as scrypt hashes (Node's crypto.scrypt; salt, N, r, p kept per account so
 * the cost can be raised later without breaking old hashes), for the console. RTSP Digest
 * (digest.ts) cannot use them: it needs HA1 = MD5(name:realm:password), so each account also has
 * a `digest` map (realm -> HA1) filled, when a password is set or an account made, for each realm
 * in `digestRealms` (the box's RTSP realm, `rtspRealm()` in edge/config). A password change
 * replaces the whole map; an account made before its realm was configured has no HA1 for it and
 * cannot use RTSP until its password is set again. An HA1 is password-equivalent for that realm:
 * the file stays 0600 and HA1s are never logged. Readers besides this store: the RTSP server
 * child (edge/net/rtsp/server-child.ts) reads name, role and `digest` from the file.
 *
 * Lifecycle: open() reads the file (absent = no accounts); every change writes it before it
 * resolves. Errors: AccountError with a code (`exists`, `unknown`, `invalid`, `last-admin`,
 * `corrupt`) and a message naming the account or the file. Runs on the control worker.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { digestHa1, REALM } from './digest.js';

export const ROLES = ['viewer', 'clinician', 'engineer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What each role may do: a role may everything the roles before it may. */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export type AccountErrorCode = 'exists' | 'unknown' | 'invalid' | 'last-admin' | 'corrupt';
export class AccountError extends Error {
  constructor(readonly code: AccountErrorCode, message: string) { super(message); this.name = 'AccountError'; }
}

export interface ScryptParams { N: number; r: number; p: number }
/** 2^15 x 8 x 1: 32 MiB, 0.1-0.35 s per check on the shared x86 dev machine (access.test measures it). Higher N would cost seconds per sign-in on a small ARM core. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 15, r: 8, p: 1 };
const KEY_LEN = 32;

interface StoredAccount {
  name: string;
  role: Role;
  scrypt: ScryptParams & { salt: string; hash: string };
  /** RTSP Digest HA1 (hex MD5) per realm, for the `digestRealms` the password was set with. */
  digest: Record<string, string>;
  createdAt: string;
  passwordChangedAt: string;
}

export interface Account { name: string; role: Role; createdAt: string; passwordChangedAt: string }

export interface AccountStoreOptions {
  path: string;
  /** scrypt cost for new hashes (tests lower it). */
  scrypt?: ScryptParams;
  now?: () => Date;
  /** Realms an HA1 is kept for when a password is set (RTSP Digest). Default none. */
  digestRealms?: readonly string[];
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;
/** At least this many characters; no composition rules (NIST SP 800-63B 5.1.1.2). */
export const MIN_PASSWORD = 8;
const MAX_PASSWORD = 256;

function scrypt(password: string, salt: Buffer, p: ScryptParams): Promise<Buffer> {
  const opts: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + (1 << 20) };
  return new Promise((resolve, reject) => scryptCb(password, salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export class AccountStore {
  private accounts: StoredAccount[] = [];
  private readonly params: ScryptParams;
  private readonly now: () => Date;
  /** A hash to check against for unknown names, so a wrong name costs as long as a wrong password. */
  private readonly dummy: Promise<StoredAccount['scrypt']>;

  constructor(private readonly opts: AccountStoreOptions) {
    if (!opts.path) throw new AccountError('invalid', 'account store: a path is required');
    this.params = opts.scrypt ?? DEFAULT_SCRYPT;
    if (!Number.isInteger(Math.log2(this.params.N)) || this.params.N < 2) throw new AccountError('invalid', `account store: scrypt N ${this.params.N} must be a power of two`);
    this.now = opts.now ?? (() => new Date());
    for (const r of opts.digestRealms ?? []) if (!REALM.test(r)) throw new AccountError('invalid', `account store: digest realm "${r}": 1 to 128 printable characters without " or \\`);
    this.dummy = this.hash(randomBytes(16).toString('hex'));
    this.dummy.catch(() => undefined);
  }

  get path(): string { return this.opts.path; }

  open(): this {
    this.accounts = readAccountsFile(this.opts.path);
    return this;
  }

  get size(): number { return this.accounts.length; }

  list(): Account[] {
    return this.accounts.map(({ name, role, createdAt, passwordChangedAt }) => ({ name, role, createdAt, passwordChangedAt }));
  }

  get(name: string): Account | undefined { return this.list().find((a) => a.name === name); }

  async add(name: string, role: Role, password: string): Promise<Account> {
    if (!NAME.test(name)) throw new AccountError('invalid', `account name "${name}": lower-case letters, digits, . _ - (1 to 32, starting with a letter or digit)`);
    if (!ROLES.includes(role)) throw new AccountError('invalid', `account "${name}": role "${role}" is not one of ${ROLES.join(', ')}`);
    checkPassword(name, password);
    if (this.find(name)) throw new AccountError('exists', `account "${name}" exists already`);
    const at = this.now().toISOString();
    const a: StoredAccount = { name, role, scrypt: await this.hash(password), digest: this.ha1s(name, password), createdAt: at, passwordChangedAt: at };
    if (this.find(name)) throw new AccountError('exists', `account "${name}" exists already`); // added while we hashed
    this.write([...this.accounts, a]);
    return this.get(name)!;
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkPassword(name, password);
    if (!this.find(name)) throw new AccountError('unknown', `no account "${name}"`);
    const h = await this.hash(password);
    const at = this.now().toISOString();
    // HA1s of realms no longer configured were made from the old password: dropped with it.
    this.write(this.accounts.map((a) => (a.name === name ? { ...a, scrypt: h, digest: this.ha1s(name, password), passwordChangedAt: at } : a)));
  }

  remove(name: string): void {
    const a = this.find(name);
    if (!a) throw new AccountError('unknown', `no account "${name}"`);
    if (a.role === 'admin' && this.accounts.filter((x) => x.role === 'admin').length === 1) {
      throw new AccountError('last-admin', `account "${name}" is the last admin; add another admin first`);
    }
    this.write(this.accounts.filter((x) => x.name !== name));
  }

  /** The account when name and password match, else null; as slow for an unknown name as for a wrong password. */
  async verify(name: string, password: string): Promise<Account | null> {
    const a = this.find(name);
    const s = a?.scrypt ?? (await this.dummy);
    if (typeof password !== 'string' || password.length > MAX_PASSWORD) return null;
    const got = await scrypt(password, Buffer.from(s.salt, 'base64'), s);
    const ok = timingSafeEqual(got, Buffer.from(s.hash, 'base64'));
    return ok && a ? this.get(a.name)! : null;
  }

  /** HA1 per configured realm. */
  private ha1s(name: string, password: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const r of this.opts.digestRealms ?? []) out[r] = digestHa1(name, r, password);
    return out;
  }

  private find(name: string): StoredAccount | undefined { return this.accounts.find((a) => a.name === name); }

  private async hash(password: string): Promise<StoredAccount['scrypt']> {
    const salt = randomBytes(16);
    const key = await scrypt(password, salt, this.params);
    return { ...this.params, salt: salt.toString('base64'), hash: key.toString('base64') };
  }

  private write(next: StoredAccount[]): void {
    writeFileAtomic(this.opts.path, JSON.stringify({ version: 1, accounts: next }, null, 2) + '\n', 0o600);
    this.accounts = next;
  }
}

/** The accounts of a file (absent: none). @throws AccountError 'corrupt'. */
function readAccountsFile(path: string): StoredAccount[] {
  if (!existsSync(path)) return [];
  let doc: { version?: unknown; accounts?: unknown };
  try { doc = JSON.parse(readFileSync(path, 'utf8')); } catch (err) {
    throw new AccountError('corrupt', `accounts file ${path} is not JSON: ${(err as Error).message}`);
  }
  if (doc.version !== 1 || !Array.isArray(doc.accounts)) throw new AccountError('corrupt', `accounts file ${path}: expected {"version": 1, "accounts": [...]}`);
  return (doc.accounts as StoredAccount[]).map((a, i) => {
    if (typeof a?.name !== 'string' || !ROLES.includes(a.role) || typeof a.scrypt?.hash !== 'string') {
      throw new AccountError('corrupt', `accounts file ${path}: account #${i} is malformed`);
    }
    return { ...a, digest: a.digest && typeof a.digest === 'object' ? a.digest : {} };
  });
}

/** What RTSP Digest needs of an account: its role and its HA1 for one realm. */
export interface DigestAccount { role: Role; ha1: string | undefined }

/**
 * The accounts of a file as RTSP Digest sees them, for `realm` (no scrypt work: the RTSP child
 * reads the file this way). Absent file: none. @throws AccountError 'corrupt'.
 */
export function readDigestAccounts(path: string, realm: string): Map<string, DigestAccount> {
  const out = new Map<string, DigestAccount>();
  for (const a of readAccountsFile(path)) {
    const h = a.digest[realm];
    out.set(a.name, { role: a.role, ha1: typeof h === 'string' && /^[0-9a-f]{32}$/.test(h) ? h : undefined });
  }
  return out;
}

function checkPassword(name: string, password: string): void {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD || password.length > MAX_PASSWORD) {
    throw new AccountError('invalid', `account "${name}": a password of ${MIN_PASSWORD} to ${MAX_PASSWORD} characters is required`);
  }
}

/** Writes a file so that a crash leaves the old content or the new, with `mode` from its creation on. */
export function writeFileAtomic(path: string, data: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try { writeSync(fd, data); fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

/** A random password for a first admin: 18 bytes, base64url (24 characters). */
export function randomPassword(): string { return randomBytes(18).toString('base64url'); }

/**
 * The first admin: when the store has no account, makes `name` an admin with the given password
 * (provisioning's) or a random one. Returns the password when it made one (the caller shows it
 * once), undefined when accounts existed already.
 */
export async function ensureFirstAdmin(store: AccountStore, name = 'admin', password?: string): Promise<{ name: string; password: string; generated: boolean } | undefined> {
  if (store.size > 0) return undefined;
  const pw = password ?? randomPassword();
  await store.add(name, 'admin', pw);
  return { name, password: pw, generated: password === undefined };
}
