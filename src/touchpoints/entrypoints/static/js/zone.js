// Wall-clock arithmetic in the portal's time zone (not the browser's), with Intl only.
// Dates are "YYYY-MM-DD" strings; instants are epoch milliseconds.

const partsFormatters = new Map();

function partsFormatter(zone) {
  let formatter = partsFormatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    partsFormatters.set(zone, formatter);
  }
  return formatter;
}

/** The wall-clock fields of ``ms`` in ``zone``. */
function wallParts(ms, zone) {
  const out = {};
  for (const part of partsFormatter(zone).formatToParts(new Date(ms))) {
    if (part.type !== "literal") out[part.type] = Number(part.value);
  }
  return out;
}

/** Offset of ``zone`` from UTC at ``ms``, in minutes (east positive). */
function offsetMinutes(ms, zone) {
  const p = wallParts(ms, zone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** "YYYY-MM-DD" of ``ms`` in ``zone``. */
export function localDate(ms, zone) {
  const p = wallParts(ms, zone);
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
}

/** "HH:MM" of ``ms`` in ``zone``. */
export function localTime(ms, zone) {
  const p = wallParts(ms, zone);
  return `${pad(p.hour)}:${pad(p.minute)}`;
}

function splitDate(day) {
  const [year, month, date] = day.split("-").map(Number);
  return { year, month, date };
}

/**
 * The instant of wall time ``day`` + ``time`` ("HH:MM") in ``zone``. A time inside a
 * spring-forward gap moves forward by the gap, like the server's rule (PEP 495 fold=0).
 */
export function zonedInstant(day, time, zone) {
  const { year, month, date } = splitDate(day);
  const [hour, minute] = time.split(":").map(Number);
  const guess = Date.UTC(year, month - 1, date, hour, minute, 0);
  const before = offsetMinutes(guess - 86400000, zone);
  const after = offsetMinutes(guess + 86400000, zone);
  const valid = [before, after]
    .map((offset) => guess - offset * 60000)
    .filter((instant) => localDate(instant, zone) === day && localTime(instant, zone) === time.slice(0, 5));
  if (valid.length) return Math.min(...valid); // an ambiguous time means its first occurrence
  return guess - before * 60000; // inside a gap: the offset before the change moves it forward
}

/** ISO 8601 with the zone's offset at that instant: "2026-03-02T10:00:00+01:00". */
export function isoInZone(ms, zone) {
  const p = wallParts(ms, zone);
  const offset = offsetMinutes(ms, zone);
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return (
    `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** Parse an ISO 8601 instant with an offset (any number of fraction digits). */
export function parseInstant(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})$/.exec(text || "");
  if (!match) return Number.NaN;
  const [, y, mo, d, hh, mi, ss = "0", frac = "0", tz] = match;
  const ms = Number(frac.slice(0, 3).padEnd(3, "0"));
  let offset = 0;
  if (tz !== "Z") {
    const sign = tz[0] === "-" ? -1 : 1;
    const digits = tz.slice(1).replace(":", "");
    offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
  }
  return Date.UTC(+y, +mo - 1, +d, +hh, +mi, +ss, ms) - offset * 60000;
}

/** ``day`` plus ``n`` calendar days. */
export function addDays(day, n) {
  const { year, month, date } = splitDate(day);
  const moved = new Date(Date.UTC(year, month - 1, date + n));
  return `${pad(moved.getUTCFullYear(), 4)}-${pad(moved.getUTCMonth() + 1)}-${pad(moved.getUTCDate())}`;
}

/** ISO weekday of ``day``: Monday 1 ... Sunday 7. */
function isoWeekday(day) {
  const { year, month, date } = splitDate(day);
  return ((new Date(Date.UTC(year, month - 1, date)).getUTCDay() + 6) % 7) + 1;
}

/** The Monday of ``day``'s ISO week. */
export function weekStart(day) {
  return addDays(day, 1 - isoWeekday(day));
}

/** Noon UTC of a calendar day, for formatting a bare date with Intl and timeZone "UTC". */
export function dayToUtcNoon(day) {
  const { year, month, date } = splitDate(day);
  return Date.UTC(year, month - 1, date, 12);
}

/** Every IANA zone the browser knows, with UTC (which Chromium leaves out). */
export function knownZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}
