import t from 'tap';
import { createLogger, redact, redactText, REDACTED } from '../log.js';

function capture() {
  const lines: any[] = [];
  return { lines, destination: { write: (s: string) => { lines.push(JSON.parse(s)); } } };
}

t.test('log lines are JSON with the worker name and level', async (t) => {
  const c = capture();
  const log = createLogger('device-data', { destination: c.destination, level: 'debug' });
  log.info({ port: '/dev/ttyUSB0' }, 'associated');
  log.debug('detail');
  log.trace('not at this level');
  t.equal(c.lines.length, 2);
  t.match(c.lines[0], { worker: 'device-data', level: 'info', port: '/dev/ttyUSB0', msg: 'associated' });
  t.ok(Date.parse(c.lines[0].time) > 0);
});

t.test('patient identifiers are removed by key, inside patient objects, and from free text', async (t) => {
  const c = capture();
  const log = createLogger('control', { destination: c.destination });
  log.info({ case: { id: 'c-17', patientName: 'Jane Doe', mrn: '00123456', dateOfBirth: '1970-01-02', theatre: 'OR 7' }, patient: { name: 'Jane Doe', ward: 'B' } },
    'case started for patient: Jane Doe, MRN 00123456, DOB 02/01/1970');
  log.warn(new Error('HL7 PID|1||00123456^^^H||DOE^JANE||19700102|F rejected'));
  const [a, b] = c.lines;
  const text = JSON.stringify(c.lines);
  for (const secret of ['Jane', 'JANE', '00123456', '1970-01-02', '02/01/1970', '19700102']) t.notOk(text.includes(secret), `"${secret}" not logged`);
  t.equal(a.case.id, 'c-17', 'non-identifying fields stay');
  t.equal(a.case.theatre, 'OR 7');
  t.equal(a.case.patientName, REDACTED);
  t.equal(a.patient.ward, REDACTED, 'everything inside a patient object');
  t.match(a.msg, /patient: \[redacted\]/);
  t.match(b.err?.message ?? b.msg ?? '', /PID\|\[redacted\]/);
});

t.test('redaction leaves ordinary text and numbers alone and never mutates its input', async (t) => {
  t.equal(redactText('HR 72 bpm, SpO2 98 %, channel endoscope at 2026-11-21'), 'HR 72 bpm, SpO2 98 %, channel endoscope at 2026-11-21');
  const input = { mrn: 'x1234', n: 5 };
  const out = redact(input) as any;
  t.equal(input.mrn, 'x1234');
  t.equal(out.mrn, REDACTED);
  t.equal(out.n, 5);
});
