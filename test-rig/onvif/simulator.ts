/**
 * A simulated ONVIF camera (Profile S subset) for tests: a WS-Discovery responder (UDP,
 * unicast or a multicast group inside a test's network namespace), the device and media SOAP
 * services on one HTTP server (GetCapabilities, GetProfiles, GetStreamUri, GetDeviceInformation,
 * GetSystemDateAndTime), UsernameToken digest checked as a camera does, and the RTSP stream URI
 * of a camera stand-in (rtsp-camera.ts) when one is given.
 * `mode` makes it hostile: `garbage` (not XML), `huge` (an endless reply), `slow` (headers,
 * then nothing), `fault` (a SOAP fault for everything).
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export type SimMode = 'ok' | 'garbage' | 'huge' | 'slow' | 'fault';

export interface SimOptions {
  user?: string;
  password?: string;
  /** RTSP URI GetStreamUri answers. */
  rtspUri?: string;
  model?: string;
  name?: string;
  /** Encoding of its one profile (H264 default). */
  encoding?: string;
  /** Discovery: UDP port to answer probes on (0 = any) and optional multicast group to join. */
  discoveryPort?: number;
  multicast?: { group: string; iface: string };
}

const env = (body: string): string => '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">' +
  `<s:Body>${body}</s:Body></s:Envelope>`;

const notAuthorized = env('<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">Sender not authorized</s:Text></s:Reason></s:Fault>');

export class OnvifSimulator {
  mode: SimMode = 'ok';
  readonly endpoint = `urn:uuid:${createHash('sha1').update(String(Math.random())).digest('hex').slice(0, 8)}-0000-4000-8000-000000000001`;
  private http: Server | undefined;
  private udp: Socket | undefined;
  httpPort = 0;
  discoveryPort = 0;
  /** Requests seen, by operation. */
  readonly seen: string[] = [];

  constructor(readonly opts: SimOptions = {}) {}

  get deviceUrl(): string { return `http://127.0.0.1:${this.httpPort}/onvif/device_service`; }

  async start(): Promise<void> {
    this.http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const op = /<(?:\w+:)?(Get\w+)[\s/>]/.exec(body.slice(body.indexOf('Body')))?.[1] ?? 'unknown';
        this.seen.push(op);
        if (this.mode === 'garbage') { res.end('\x00\xffnot xml at all <<<'); return; }
        if (this.mode === 'slow') { res.writeHead(200, { 'content-type': 'application/soap+xml' }); res.write('<?xml'); return; }
        if (this.mode === 'huge') {
          res.writeHead(200, { 'content-type': 'application/soap+xml' });
          const chunk = Buffer.alloc(64 * 1024, 'A');
          const pump = (): void => { while (res.write(chunk)) { /* until the socket pushes back */ } };
          res.on('drain', pump);
          res.on('close', () => res.off('drain', pump));
          pump();
          return;
        }
        if (this.mode === 'fault') { res.writeHead(500); res.end(env('<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text>simulated failure</s:Text></s:Reason></s:Fault>')); return; }
        // A Content-Length, not chunked: small camera clients (libonvif) read only that.
        const send = (status: number, xml: string): void => { res.writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8', 'content-length': Buffer.byteLength(xml) }); res.end(xml); };
        if (op !== 'GetSystemDateAndTime' && this.opts.user && !this.authorized(body)) { send(400, notAuthorized); return; }
        send(200, this.answer(op));
      });
    });
    await new Promise<void>((r) => this.http!.listen(0, '127.0.0.1', r));
    this.httpPort = (this.http.address() as AddressInfo).port;
    const udp = createSocket({ type: 'udp4', reuseAddr: true });
    this.udp = udp;
    udp.on('message', (buf, rinfo) => {
      const m = /<(?:\w+:)?MessageID>([^<]{1,200})</.exec(buf.toString());
      if (!m || !/Probe/.test(buf.toString())) return;
      const reply = this.mode === 'garbage' ? Buffer.from('\x00garbage') : Buffer.from(this.probeMatch(m[1]));
      udp.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => udp.bind(this.opts.discoveryPort ?? 0, this.opts.multicast ? undefined : '127.0.0.1', r));
    if (this.opts.multicast) udp.addMembership(this.opts.multicast.group, this.opts.multicast.iface);
    this.discoveryPort = udp.address().port;
  }

  /** Unplugged: both services gone. */
  async stop(): Promise<void> {
    this.udp?.close();
    this.udp = undefined;
    this.http?.closeAllConnections();
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    this.http = undefined;
  }

  private authorized(body: string): boolean {
    const user = /<(?:\w+:)?Username>([^<]*)</.exec(body)?.[1];
    const digest = /<(?:\w+:)?Password[^>]*>([^<]*)</.exec(body)?.[1];
    const nonce = /<(?:\w+:)?Nonce[^>]*>([^<]*)</.exec(body)?.[1];
    const created = /<(?:\w+:)?Created>([^<]*)</.exec(body)?.[1];
    if (user !== this.opts.user || !digest || !nonce || !created) return false;
    const want = createHash('sha1').update(Buffer.concat([Buffer.from(nonce, 'base64'), Buffer.from(created), Buffer.from(this.opts.password ?? '')])).digest('base64');
    return want === digest;
  }

  private answer(op: string): string {
    const media = `http://127.0.0.1:${this.httpPort}/onvif/media_service`;
    switch (op) {
      case 'GetCapabilities':
        return env(`<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media><tt:XAddr>${media}</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>`);
      case 'GetProfiles':
        return env('<trt:GetProfilesResponse><trt:Profiles token="main" fixed="true"><tt:Name>MainStream</tt:Name><tt:VideoEncoderConfiguration token="vec0">' +
          `<tt:Name>enc</tt:Name><tt:Encoding>${this.opts.encoding ?? 'H264'}</tt:Encoding><tt:Resolution><tt:Width>640</tt:Width><tt:Height>360</tt:Height></tt:Resolution>` +
          '<tt:RateControl><tt:FrameRateLimit>30</tt:FrameRateLimit></tt:RateControl></tt:VideoEncoderConfiguration></trt:Profiles></trt:GetProfilesResponse>');
      case 'GetStreamUri':
        return env(`<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>${this.opts.rtspUri ?? 'rtsp://127.0.0.1:554/stream'}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect></trt:MediaUri></trt:GetStreamUriResponse>`);
      case 'GetDeviceInformation':
        return env(`<tds:GetDeviceInformationResponse><tds:Manufacturer>orbox-test-rig</tds:Manufacturer><tds:Model>${this.opts.model ?? 'SimCam'}</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion><tds:SerialNumber>SIM0001</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>`);
      case 'GetSystemDateAndTime': {
        const d = new Date();
        return env(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time><tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`);
      }
      default:
        return env(`<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:ActionNotSupported</s:Value></s:Subcode></s:Code><s:Reason><s:Text>${op} not simulated</s:Text></s:Reason></s:Fault>`);
    }
  }

  private probeMatch(relatesTo: string): string {
    const scopes = [`onvif://www.onvif.org/type/video_encoder`, `onvif://www.onvif.org/Profile/Streaming`,
      `onvif://www.onvif.org/hardware/${encodeURIComponent(this.opts.model ?? 'SimCam')}`, `onvif://www.onvif.org/name/${encodeURIComponent(this.opts.name ?? 'sim-camera')}`].join(' ');
    return '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
      'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>' +
      `<a:MessageID>urn:uuid:${createHash('sha1').update(relatesTo).digest('hex').slice(0, 8)}-1111-4111-8111-111111111111</a:MessageID><a:RelatesTo>${relatesTo}</a:RelatesTo>` +
      '<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action></s:Header>' +
      `<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>${this.endpoint}</a:Address></a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>` +
      `<d:Scopes>${scopes}</d:Scopes><d:XAddrs>${this.deviceUrl}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>`;
  }
}
