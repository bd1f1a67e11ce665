/**
 * A small ONVIF SOAP 1.2 client: GetCapabilities (device service), GetProfiles and
 * GetStreamUri (media service, ONVIF Media ver10), with WS-Security UsernameToken
 * PasswordDigest (OASIS WSS UsernameToken Profile 1.0 §3.1: Digest = Base64(SHA-1(nonce +
 * created + password))).
 *
 * Contract
 * - Every reply is bounded: MAX_REPLY_BYTES (a GetProfiles of a many-profile camera is a few
 *   tens of KiB; 256 KiB is ten times that) and `timeoutMs` for the whole exchange (default
 *   4000: a camera on the room's LAN answers in milliseconds; a slow one is as good as gone).
 * - Errors: OnvifAuthError (HTTP 401, or a fault whose subcode is NotAuthorized),
 *   OnvifReplyError for the rest (timeout, too large, not SOAP, other faults, missing fields),
 *   each naming the device's address and the operation. The password is never in a message.
 * - Stateless: each call is one HTTP POST; no connection kept.
 * Runs on: control (`orbox cameras discover`), video-capture (an onvif source's URI).
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { OnvifAuthError, OnvifReplyError } from './errors.js';
import { elements, escapeXml, text } from './xml.js';

/** Upper bound of a SOAP reply read from a device, bytes. */
export const MAX_REPLY_BYTES = 256 * 1024;

export interface Credentials { user: string; password: string }

export interface OnvifProfile {
  token: string;
  name: string;
  /** Video encoding as the device names it: H264, H265, JPEG, MPEG4. */
  encoding?: string;
  width?: number;
  height?: number;
  fps?: number;
}

export interface SoapOptions {
  timeoutMs?: number;
  credentials?: Credentials;
  /** Injected for tests of the digest: nonce bytes and the Created time. */
  now?: () => Date;
  nonce?: () => Buffer;
}

/** WS-Security header with a UsernameToken PasswordDigest. */
export function securityHeader(c: Credentials, created: Date, nonce: Buffer): string {
  const createdS = created.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const digest = createHash('sha1').update(Buffer.concat([nonce, Buffer.from(createdS, 'utf8'), Buffer.from(c.password, 'utf8')])).digest('base64');
  return '<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ' +
    'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken>' +
    `<wsse:Username>${escapeXml(c.user)}</wsse:Username>` +
    `<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">${digest}</wsse:Password>` +
    `<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">${nonce.toString('base64')}</wsse:Nonce>` +
    `<wsu:Created>${createdS}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>`;
}

const NS = 'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" ' +
  'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"';

export class OnvifClient {
  /** host:port of the device service, for messages. */
  readonly device: string;
  private readonly timeoutMs: number;

  /** `deviceUrl`: the device service (an XAddr), e.g. http://10.0.0.5/onvif/device_service. */
  constructor(readonly deviceUrl: string, private readonly opts: SoapOptions = {}) {
    let u: URL;
    try { u = new URL(deviceUrl); } catch { throw new RangeError(`ONVIF device address "${deviceUrl}" is not a URL`); }
    if (u.protocol !== 'http:') throw new RangeError(`ONVIF device address "${deviceUrl}": only http:// device services are supported`);
    if (u.username || u.password) throw new RangeError(`ONVIF device address "${u.host}${u.pathname}": credentials go in a credentials file, not the address`);
    this.device = u.host;
    this.timeoutMs = opts.timeoutMs ?? 4000;
  }

  /** The media service address (GetCapabilities, category Media). */
  async mediaUrl(): Promise<string> {
    const body = await this.call(this.deviceUrl, 'GetCapabilities', '<tds:GetCapabilities><tds:Category>Media</tds:Category></tds:GetCapabilities>');
    const media = elements(body, 'Media')[0];
    const x = media === undefined ? undefined : text(media, 'XAddr');
    if (!x) throw new OnvifReplyError(this.device, 'GetCapabilities', 'no Media XAddr in the reply');
    return x;
  }

  /** The device's media profiles with their video encoder settings. */
  async profiles(mediaUrl?: string): Promise<OnvifProfile[]> {
    const body = await this.call(mediaUrl ?? await this.mediaUrl(), 'GetProfiles', '<trt:GetProfiles/>');
    const re = /<(?:[A-Za-z_][\w.-]*:)?Profiles(?=[\s>])[^>]*\btoken="([^"]*)"[^>]*>/g;
    const tokens = [...body.matchAll(re)].map((m) => m[1]);
    const inners = elements(body, 'Profiles');
    if (tokens.length === 0) throw new OnvifReplyError(this.device, 'GetProfiles', 'no profile in the reply');
    return tokens.slice(0, 64).map((token, i) => {
      const p = inners[i] ?? '';
      const enc = elements(p, 'VideoEncoderConfiguration')[0] ?? '';
      const num = (s: string | undefined): number | undefined => (s !== undefined && /^\d{1,6}$/.test(s) ? Number(s) : undefined);
      return { token, name: text(p, 'Name') ?? token, encoding: text(enc, 'Encoding'), width: num(text(enc, 'Width')), height: num(text(enc, 'Height')), fps: num(text(enc, 'FrameRateLimit')) };
    });
  }

  /** The RTSP URI of a profile (RTP over RTSP, unicast). */
  async streamUri(profileToken: string, mediaUrl?: string): Promise<string> {
    const req = '<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>' +
      `<trt:ProfileToken>${escapeXml(profileToken)}</trt:ProfileToken></trt:GetStreamUri>`;
    const body = await this.call(mediaUrl ?? await this.mediaUrl(), 'GetStreamUri', req);
    const uri = text(elements(body, 'MediaUri')[0] ?? '', 'Uri');
    if (!uri || !/^rtsp:\/\//.test(uri)) throw new OnvifReplyError(this.device, 'GetStreamUri', `no rtsp:// Uri for profile ${profileToken}`);
    return uri;
  }

  /** One SOAP exchange; resolves with the reply's Body. */
  async call(url: string, operation: string, bodyXml: string): Promise<string> {
    const c = this.opts.credentials;
    const header = c ? securityHeader(c, this.opts.now?.() ?? new Date(), this.opts.nonce?.() ?? randomBytes(16)) : '';
    const envelope = `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${NS}>${header}<s:Body>${bodyXml}</s:Body></s:Envelope>`;
    const { status, body } = await this.post(url, operation, envelope);
    const fault = elements(body, 'Fault')[0];
    if (status === 401 || (fault !== undefined && /NotAuthorized|FailedAuthentication/i.test(fault))) {
      throw new OnvifAuthError(this.device, operation, status === 401 ? 'HTTP 401' : 'SOAP fault NotAuthorized');
    }
    if (fault !== undefined) throw new OnvifReplyError(this.device, operation, `SOAP fault: ${(text(fault, 'Text') ?? text(fault, 'Value') ?? 'no reason').slice(0, 200)}`);
    if (status !== 200) throw new OnvifReplyError(this.device, operation, `HTTP ${status}`);
    const b = elements(body, 'Body')[0];
    if (b === undefined) throw new OnvifReplyError(this.device, operation, 'the reply is not a SOAP envelope');
    return b;
  }

  private post(url: string, operation: string, envelope: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      let u: URL;
      try { u = new URL(url); } catch { reject(new OnvifReplyError(this.device, operation, `service address "${url.slice(0, 200)}" is not a URL`)); return; }
      if (u.protocol !== 'http:') { reject(new OnvifReplyError(this.device, operation, `service address ${u.protocol}//${u.host} is not http`)); return; }
      const req = request(u, { method: 'POST', headers: { 'content-type': `application/soap+xml; charset=utf-8; action="${operation}"`, 'content-length': Buffer.byteLength(envelope) } }, (res) => {
        const chunks: Buffer[] = [];
        let n = 0;
        res.on('data', (d: Buffer) => {
          n += d.length;
          if (n > MAX_REPLY_BYTES) { req.destroy(); fail(`reply larger than ${MAX_REPLY_BYTES} bytes`); return; }
          chunks.push(d);
        });
        res.on('end', () => { clearTimeout(timer); if (!done) { done = true; resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }); } });
        res.on('error', (e) => fail(e.message));
      });
      let done = false;
      const fail = (why: string): void => { if (done) return; done = true; clearTimeout(timer); req.destroy(); reject(new OnvifReplyError(this.device, operation, why)); };
      const timer = setTimeout(() => fail(`no complete reply within ${this.timeoutMs} ms`), this.timeoutMs);
      req.on('error', (e) => fail(e.message));
      req.end(envelope);
    });
  }
}
