/**
 * The enrolment path, box side: at first boot a box provisioned with `--enrol` finds a claim on
 * its data partition, makes its EC P-256 key (which never leaves it), sends its CSR with the
 * claim to be signed, and installs the certificate it gets back, in the style of claim-based
 * fleet provisioning (AWS IoT "provisioning by claim", with a per-box one-time token instead of
 * a shared claim certificate).
 *
 * What is built: this function, over a folder that is the mounted data partition (/data on the
 * box), with the signing transport injected; DeviceCa.signClaimed() on the CA side. What is not:
 * the transport itself (an enrolment topic on the broker reachable with the claim, or an HTTPS
 * endpoint next to the CA) and the unit that runs this before orbox.service.
 *
 * Errors: EnrolError naming the file or the answer that was wrong; the claim is removed only
 * once the certificate is installed, so a failed enrolment is retried at the next boot.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DATA_PATHS, keyMatchesCert, makeKeyAndCsr } from './identity.js';

export class EnrolError extends Error {
  constructor(message: string) { super(`enrolment: ${message}`); this.name = 'EnrolError'; }
}

/** Sends the CSR with its claim to the fleet's signer and resolves with the certificate PEM. */
export type SubmitCsr = (req: { boxId: string; token: string; csrPem: string }) => Promise<string>;

export interface EnrolResult { boxId: string; enrolled: boolean; reason: string }

/**
 * Enrols if `dataRoot` (the data partition's root) holds a claim; a box that already has its
 * certificate, or no claim, is left as it is.
 */
export async function enrolAtFirstBoot(dataRoot: string, submit: SubmitCsr): Promise<EnrolResult> {
  const at = (p: string) => join(dataRoot, p);
  if (existsSync(at(DATA_PATHS.cert)) && existsSync(at(DATA_PATHS.key))) return { boxId: '', enrolled: false, reason: 'already has a certificate' };
  if (!existsSync(at(DATA_PATHS.claim))) return { boxId: '', enrolled: false, reason: 'no claim' };
  let claim: { boxId: string; token: string };
  try {
    claim = JSON.parse(readFileSync(at(DATA_PATHS.claim), 'utf8')) as { boxId: string; token: string };
  } catch (err) {
    throw new EnrolError(`${at(DATA_PATHS.claim)} is not JSON (${(err as Error).message})`);
  }
  const serial = existsSync(at(DATA_PATHS.serial)) ? readFileSync(at(DATA_PATHS.serial), 'utf8').trim() : '';
  if (serial && !claim.boxId.endsWith(serial)) throw new EnrolError(`the claim is for ${claim.boxId}, but this box's serial is ${serial}`);
  const { keyPem, csrPem } = await makeKeyAndCsr(claim.boxId);
  const certPem = await submit({ boxId: claim.boxId, token: claim.token, csrPem });
  if (!keyMatchesCert(keyPem, certPem)) throw new EnrolError(`the certificate the signer answered is not for the key this box made`);
  mkdirSync(dirname(at(DATA_PATHS.key)), { recursive: true, mode: 0o750 });
  // Written under temporary names and renamed: a power cut leaves the old state or the new one.
  writeFileSync(at(DATA_PATHS.key) + '.new', keyPem, { mode: 0o600 });
  writeFileSync(at(DATA_PATHS.cert) + '.new', certPem, { mode: 0o644 });
  renameSync(at(DATA_PATHS.key) + '.new', at(DATA_PATHS.key));
  renameSync(at(DATA_PATHS.cert) + '.new', at(DATA_PATHS.cert));
  rmSync(at(DATA_PATHS.claim));
  return { boxId: claim.boxId, enrolled: true, reason: 'certificate installed' };
}
