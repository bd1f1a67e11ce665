/**
 * The receiving end's side of the web console (issue #15): `orbox receive --from` signs in to a
 * box's console over HTTPS as an engineer and fetches its uplink SDP (which holds the SRTP keys)
 * from `POST /api/uplink/<receiver>/sdp`, so keys travel only over an authenticated, encrypted
 * channel and the box's audit log names who took them. The box's certificate is checked against
 * `ca` (a hospital CA, or the demo's self-signed certificate); there is no way to skip the check.
 * Errors: WebClientError with the step (sign-in, fetch) and the box's own words.
 */
import https from 'node:https';

export class WebClientError extends Error {
  constructor(message: string) { super(message); this.name = 'WebClientError'; }
}

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function request(url: URL, o: { method: string; headers: Record<string, string>; body?: string; ca?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: o.method, headers: o.headers, ca: o.ca, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (body.length < 256 * 1024) body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new WebClientError(`${url.origin}: no answer within 15 s`)));
    req.on('error', (e) => reject(e instanceof WebClientError ? e : new WebClientError(`${url.origin}: ${e.message}`)));
    req.end(o.body);
  });
}

const errorOf = (r: Reply): string => { try { return (JSON.parse(r.body) as { error?: string }).error ?? r.body; } catch { return r.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200); } };

export async function fetchUplinkSdp(o: { url: string; receiver: string; user: string; password: string; ca?: string | Buffer; current?: boolean }): Promise<string> {
  const base = new URL(o.url);
  if (base.protocol !== 'https:') throw new WebClientError(`${o.url}: the box's console is https only (the SDP holds keys)`);
  const signin = await request(new URL('/signin', base), {
    method: 'POST', ca: o.ca, headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user: o.user, password: o.password }).toString(),
  });
  const set = ([] as string[]).concat(signin.headers['set-cookie'] ?? []);
  const cookie = set.map((c) => c.split(';')[0]!).find((c) => c.includes('='));
  if ((signin.status !== 302 && signin.status !== 303) || !cookie) throw new WebClientError(`sign-in to ${base.origin} as ${o.user} refused (HTTP ${signin.status}): ${errorOf(signin)}`);
  const r = await request(new URL(`/api/uplink/${encodeURIComponent(o.receiver)}/sdp`, base), {
    method: 'POST', ca: o.ca, headers: { 'Content-Type': 'application/json', Cookie: cookie }, body: JSON.stringify({ current: o.current === true }),
  });
  if (r.status !== 200) throw new WebClientError(`${base.origin}: uplink SDP of "${o.receiver}" refused (HTTP ${r.status}): ${errorOf(r)}`);
  const sdp = (JSON.parse(r.body) as { sdp?: unknown }).sdp;
  if (typeof sdp !== 'string' || !sdp.startsWith('v=0')) throw new WebClientError(`${base.origin}: the answer holds no SDP`);
  return sdp;
}
