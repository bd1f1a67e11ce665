/**
 * Topic names of the fleet link: `orbox/v1/<boxId>/<kind>`.
 *
 * The broker's ACL is `pattern readwrite orbox/v1/%u/#` with the certificate CN as username, so a
 * box id must be usable as one topic level and as an ACL substitution: mosquitto refuses pattern
 * substitution for usernames containing `+`, `#` or `/`, and we keep ids to a portable charset.
 */

export const TOPIC_ROOT = 'orbox/v1';

export const TOPIC_KINDS = ['birth', 'death', 'telemetry', 'cmd', 'ack', 'event'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

/** Box ids: 1..64 of [A-Za-z0-9._-], not starting with a dot or dash. */
export const BOX_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

export function isBoxId(id: string): boolean {
  return BOX_ID_RE.test(id);
}

export function topicFor(boxId: string, kind: TopicKind): string {
  return `${TOPIC_ROOT}/${boxId}/${kind}`;
}

/** Subscription filter for one kind across all boxes (console side). */
export function filterAllBoxes(kind: TopicKind): string {
  return `${TOPIC_ROOT}/+/${kind}`;
}

/** Splits `orbox/v1/<boxId>/<kind>`; undefined for anything else. */
export function parseTopic(topic: string): { boxId: string; kind: TopicKind } | undefined {
  const parts = topic.split('/');
  if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return undefined;
  const kind = parts[3] as TopicKind;
  if (!TOPIC_KINDS.includes(kind) || !isBoxId(parts[2])) return undefined;
  return { boxId: parts[2], kind };
}
