// Unit tests for assets/js/tz.js (wall time in a named zone -> UTC), run with `node --test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const source = readFileSync(new URL('../../assets/js/tz.js', import.meta.url), 'utf8');
const sandbox = { Intl, Date, Number, String, Math, Set, Map };
sandbox.globalThis = sandbox;
vm.runInNewContext(source, sandbox);
const tz = sandbox.ChattuTz;

const wall = (text) => tz.parseLocalInput(text);
const utc = (text, zone) => {
  const r = tz.wallToUtc(wall(text), zone);
  return { iso: tz.isoUtc(r.utcMs), status: r.status };
};

test('Jerusalem summer (IDT, UTC+3) and winter (IST, UTC+2)', () => {
  assert.deepEqual(utc('2025-10-06T21:30', 'Asia/Jerusalem'), { iso: '2025-10-06T18:30:00Z', status: 'ok' });
  assert.deepEqual(utc('2025-12-01T12:00', 'Asia/Jerusalem'), { iso: '2025-12-01T10:00:00Z', status: 'ok' });
});

test('Jerusalem spring-forward gap (2025-03-28 02:00 -> 03:00) moves forward', () => {
  assert.deepEqual(utc('2025-03-28T02:30', 'Asia/Jerusalem'), { iso: '2025-03-28T00:30:00Z', status: 'skipped' });
  assert.deepEqual(utc('2025-03-28T03:00', 'Asia/Jerusalem'), { iso: '2025-03-28T00:00:00Z', status: 'ok' });
  assert.deepEqual(utc('2025-03-28T01:59', 'Asia/Jerusalem'), { iso: '2025-03-27T23:59:00Z', status: 'ok' });
});

test('Jerusalem fall-back overlap (2025-10-26 02:00 -> 01:00) takes the earlier instant', () => {
  assert.deepEqual(utc('2025-10-26T01:30', 'Asia/Jerusalem'), { iso: '2025-10-25T22:30:00Z', status: 'ambiguous' });
  assert.deepEqual(utc('2025-10-26T02:30', 'Asia/Jerusalem'), { iso: '2025-10-26T00:30:00Z', status: 'ok' });
});

test('other zones: New York DST, Kolkata half hour, UTC, southern hemisphere', () => {
  assert.equal(utc('2025-07-01T09:00', 'America/New_York').iso, '2025-07-01T13:00:00Z');
  assert.equal(utc('2025-01-01T09:00', 'America/New_York').iso, '2025-01-01T14:00:00Z');
  assert.equal(utc('2025-03-09T02:30', 'America/New_York').status, 'skipped');
  assert.equal(utc('2025-06-01T12:00', 'Asia/Kolkata').iso, '2025-06-01T06:30:00Z');
  assert.equal(utc('2025-06-01T12:00', 'UTC').iso, '2025-06-01T12:00:00Z');
  assert.equal(utc('2025-01-15T12:00', 'Australia/Sydney').iso, '2025-01-15T01:00:00Z');
});

test('round trip and labels', () => {
  const instant = Date.UTC(2025, 6, 4, 15, 45);
  assert.equal(tz.toLocalInput(instant, 'Asia/Jerusalem'), '2025-07-04T18:45');
  assert.equal(tz.offsetLabel(instant, 'Asia/Jerusalem'), 'UTC+03:00');
  assert.equal(tz.offsetLabel(instant, 'America/St_Johns'), 'UTC-02:30');
  assert.equal(tz.parseLocalInput('2025-13-01T00:00'), null);
  assert.equal(tz.parseLocalInput('garbage'), null);
  assert.equal(tz.isValidZone('Asia/Jerusalem'), true);
  assert.equal(tz.isValidZone('Mars/Olympus'), false);
});
