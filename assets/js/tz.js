// Wall-clock time in a named IANA time zone <-> UTC instants, using only Intl (no tz database shipped).
// Works in the browser (window.Chattu.tz) and in Node (globalThis.ChattuTz) so the DST rules are unit-tested.
'use strict';

(function (root) {
  const formatters = new Map();

  function formatter(timeZone) {
    let f = formatters.get(timeZone);
    if (!f) {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
      formatters.set(timeZone, f);
    }
    return f;
  }

  // The wall-clock fields of a UTC instant as seen in timeZone.
  function wallParts(utcMs, timeZone) {
    const parts = {};
    for (const p of formatter(timeZone).formatToParts(new Date(utcMs))) {
      if (p.type !== 'literal') parts[p.type] = Number(p.value);
    }
    // Some engines print midnight as 24 with h23; normalise.
    if (parts.hour === 24) parts.hour = 0;
    return parts;
  }

  // Offset of timeZone from UTC at a UTC instant, in milliseconds (Asia/Jerusalem in summer: +3 h).
  function offsetAt(utcMs, timeZone) {
    const p = wallParts(utcMs, timeZone);
    const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    const whole = Math.floor(utcMs / 1000) * 1000;
    return asUtc - whole;
  }

  // Converts a wall-clock time in timeZone to a UTC instant.
  // Returns {utcMs, status}: 'ok'; 'ambiguous' (clocks went back; the earlier instant is used);
  // 'skipped' (clocks went forward over this time; it is moved forward by the gap, as Temporal's
  // 'compatible' disambiguation does).
  function wallToUtc(wall, timeZone) {
    const wallMs = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second || 0);
    const day = 86400000;
    const offsets = new Set([
      offsetAt(wallMs - day, timeZone),
      offsetAt(wallMs + day, timeZone),
      offsetAt(wallMs, timeZone),
    ]);
    for (const o of [...offsets]) offsets.add(offsetAt(wallMs - o, timeZone));
    const valid = [...offsets].map((o) => wallMs - o).filter((t) => offsetAt(t, timeZone) === wallMs - t);
    const unique = [...new Set(valid)].sort((a, b) => a - b);
    if (unique.length === 1) return { utcMs: unique[0], status: 'ok' };
    if (unique.length > 1) return { utcMs: unique[0], status: 'ambiguous' };
    // A gap: use the offset in force before the transition, which lands after the gap.
    return { utcMs: wallMs - offsetAt(wallMs - day, timeZone), status: 'skipped' };
  }

  // 'YYYY-MM-DDTHH:MM' (an <input type="datetime-local"> value) -> wall fields, or null.
  function parseLocalInput(text) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(String(text || '').trim());
    if (!m) return null;
    const wall = { year: +m[1], month: +m[2], day: +m[3], hour: +m[4], minute: +m[5], second: +(m[6] || 0) };
    if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.day > 31 || wall.hour > 23 || wall.minute > 59) return null;
    return wall;
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  // A UTC instant -> 'YYYY-MM-DDTHH:MM' wall time in timeZone (for filling a datetime-local input).
  function toLocalInput(utcMs, timeZone) {
    const p = wallParts(utcMs, timeZone);
    return p.year + '-' + pad(p.month) + '-' + pad(p.day) + 'T' + pad(p.hour) + ':' + pad(p.minute);
  }

  // The API's UTC form: 2025-10-06T18:30:00Z (no milliseconds).
  function isoUtc(utcMs) {
    return new Date(utcMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  function offsetLabel(utcMs, timeZone) {
    const minutes = Math.round(offsetAt(utcMs, timeZone) / 60000);
    const sign = minutes < 0 ? '-' : '+';
    const abs = Math.abs(minutes);
    return 'UTC' + sign + pad(Math.floor(abs / 60)) + ':' + pad(abs % 60);
  }

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    } catch (err) {
      return 'UTC';
    }
  }

  function isValidZone(timeZone) {
    try {
      formatter(timeZone);
      return true;
    } catch (err) {
      return false;
    }
  }

  const tz = { offsetAt, wallToUtc, parseLocalInput, toLocalInput, isoUtc, offsetLabel, browserZone, isValidZone, wallParts };
  if (root.Chattu) root.Chattu.tz = tz;
  else root.Chattu = { tz };
  root.ChattuTz = tz;
})(typeof window !== 'undefined' ? window : globalThis);
