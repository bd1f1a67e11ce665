/**
 * uplinkLive: an expert counts as receiving only while a pair's RTCP count grows (net-send's
 * stats, as control keeps them): what uploads wait for and what holds an OTA reboot.
 */
import t from 'tap';
import { uplinkLive } from '../uplink-live.js';
import type { Recordings } from '../recordings.js';

const rec = (rtcpIn: number) => ({ status: () => ({ uplink: [{ receiver: 'expert', channel: 'endoscope', rtcpIn }] }) }) as unknown as Recordings;

t.test('live while the receiver answers, not before its first answer seen here, not 10 s after its last', async (t) => {
  t.notOk(uplinkLive(rec(40), 1_000), 'the first count seen is history');
  t.notOk(uplinkLive(rec(40), 2_000), 'no growth');
  t.ok(uplinkLive(rec(41), 3_000), 'an answer');
  t.ok(uplinkLive(rec(41), 12_999), 'still live 9.999 s later');
  t.notOk(uplinkLive(rec(41), 13_000), 'silent for 10 s: gone');
  t.notOk(uplinkLive({ status: () => ({}) } as unknown as Recordings, 14_000), 'no uplink pairs at all');
});
