/**
 * Just enough XML for ONVIF's SOAP replies and WS-Discovery matches: element texts and
 * attributes by local name (namespace prefixes ignored), entities decoded. Not a parser: it
 * reads well-formed replies and returns nothing (never throws, never loops) on others.
 * Inputs are bounded by their callers (MAX_REPLY_BYTES in soap.ts, MAX_DATAGRAM in
 * discovery.ts), and every pattern is linear in them.
 * Runs on: control (discovery from the CLI), video-capture (resolving an onvif source).
 */

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g, (_, e: string) => {
    if (e[0] !== '#') return ENTITIES[e];
    const n = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return n <= 0x10ffff ? String.fromCodePoint(n) : '';
  });
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&${Object.entries(ENTITIES).find(([, v]) => v === c)![0]};`);
}

/** The inner XML of every element named `local` (any prefix), outermost first. */
export function elements(xml: string, local: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${local}(?=[\\s/>])([^>]*?)(/?)>`, 'g');
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    if (m[2] === '/') { out.push(''); continue; }
    const start = re.lastIndex;
    const close = new RegExp(`</(?:[A-Za-z_][\\w.-]*:)?${local}\\s*>`, 'g');
    close.lastIndex = start;
    const c = close.exec(xml);
    if (!c) break;
    out.push(xml.slice(start, c.index));
    re.lastIndex = close.lastIndex;
  }
  return out;
}

/** The text of the first element named `local`, trimmed and decoded; undefined if none. */
export function text(xml: string, local: string): string | undefined {
  const e = elements(xml, local)[0];
  return e === undefined ? undefined : decodeEntities(e.replace(/<[^>]*>/g, '')).trim();
}

/** Attribute `name` of the first element named `local`. */
export function attr(xml: string, local: string, name: string): string | undefined {
  const m = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${local}(?=[\\s/>])[^>]*?\\s${name}="([^"]*)"`).exec(xml);
  return m ? decodeEntities(m[1]) : undefined;
}
