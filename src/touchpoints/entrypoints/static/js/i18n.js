// Translations (static/i18n/<lang>.json) and locale-aware formatting with Intl.

import { dayToUtcNoon, localDate } from "./zone.js";

export const LANGUAGES = ["en", "ru"];

let lang = "en";
let strings = {};
let fallback = {};
const cache = new Map();

async function fetchStrings(code) {
  const response = await fetch(new URL(`../i18n/${code}.json`, import.meta.url), { credentials: "same-origin" });
  if (!response.ok) throw new Error(`translations for ${code}: HTTP ${response.status}`);
  return response.json();
}

/** Load the strings for ``code`` (anything but a known language falls back to English). */
export async function loadLanguage(code) {
  lang = LANGUAGES.includes(code) ? code : "en";
  const [own, english] = await Promise.all([
    fetchStrings(lang),
    lang === "en" ? Promise.resolve(null) : fetchStrings("en"),
  ]);
  strings = own;
  fallback = english ?? own;
  document.documentElement.lang = lang;
  return lang;
}

export function currentLanguage() {
  return lang;
}

function lookup(key) {
  return strings[key] ?? fallback[key];
}

function interpolate(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** The translation of ``key`` with {name} placeholders filled from ``params``. */
export function t(key, params = {}) {
  const text = lookup(key);
  if (typeof text !== "string") return key;
  return interpolate(text, params);
}

/** A counted phrase: the key holds {one, few, many, other} chosen by Intl.PluralRules. */
export function tn(key, count, params = {}) {
  const forms = lookup(key);
  if (!forms || typeof forms !== "object") return key;
  const rule = new Intl.PluralRules(lang).select(count);
  const text = forms[rule] ?? forms.other;
  return interpolate(text, { count: formatNumber(count), ...params });
}

/**
 * The first Intl date formatter of a page loads the ICU data, 30-100 ms of one core: done
 * while the shell waits for the server, the board's first cards do not wait for it.
 */
export function warmUpFormatting() {
  formatter("date", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", ...timeOptions() }).format(0);
  formatNumber(0);
}

function formatter(kind, options) {
  const key = `${kind}|${lang}|${JSON.stringify(options)}`;
  let value = cache.get(key);
  if (!value) {
    value = kind === "date" ? new Intl.DateTimeFormat(lang, options)
      : kind === "rel" ? new Intl.RelativeTimeFormat(lang, options)
      : new Intl.NumberFormat(lang, options);
    cache.set(key, value);
  }
  return value;
}

export function formatNumber(n) {
  return formatter("num", {}).format(n);
}

/** An amount in its ISO 4217 ``currency`` ("€125,000.50"); a code Intl does not know is written after the number. */
export function formatMoney(amount, currency) {
  if (!currency) return formatNumber(amount);
  try {
    return formatter("num", { style: "currency", currency }).format(amount);
  } catch {
    return `${formatNumber(amount)} ${currency}`;
  }
}

/**
 * How the language writes a time of day: English "9:00 AM" (no leading zero), Russian a
 * 24-hour "09:00". Spelled out so no browser default (a "09:00 AM") slips in.
 */
function timeOptions() {
  return lang === "en" ? { hour: "numeric", minute: "2-digit", hour12: true } : { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
}

/** "Tue, 14 Oct, 10:00" in ``zone`` (the year only when it is not this year). */
export function formatDateTime(ms, zone, { withYear = false } = {}) {
  const options = { timeZone: zone, weekday: "short", day: "numeric", month: "short", ...timeOptions() };
  if (withYear || new Date(ms).getUTCFullYear() !== new Date().getUTCFullYear()) options.year = "numeric";
  return formatter("date", options).format(ms);
}

/** A deadline in a few characters (compact cards): the time today, else the day ("3 Dec"). */
export function formatShortWhen(ms, zone, now = Date.now()) {
  if (localDate(ms, zone) === localDate(now, zone)) return formatter("date", { timeZone: zone, ...timeOptions() }).format(ms);
  return formatter("date", { timeZone: zone, day: "numeric", month: "short" }).format(ms);
}

/** A calendar day "YYYY-MM-DD" as "Mon, 2 Mar 2026". */
export function formatDay(day, { weekday = "short", year = true } = {}) {
  const options = { timeZone: "UTC", day: "numeric", month: "short" };
  if (weekday) options.weekday = weekday;
  if (year) options.year = "numeric";
  return formatter("date", options).format(dayToUtcNoon(day));
}

/** Weekday names Monday..Sunday in the current language. */
export function weekdayNames(style = "short") {
  const format = formatter("date", { timeZone: "UTC", weekday: style });
  return [1, 2, 3, 4, 5, 6, 7].map((iso) => format.format(Date.UTC(2024, 0, iso, 12)));
}

/** "in 3 hours", "2 days ago", "now". */
export function formatRelative(ms, now = Date.now()) {
  const diff = ms - now;
  const abs = Math.abs(diff);
  const minute = 60000;
  const hour = 60 * minute;
  const day = 24 * hour;
  const rel = formatter("rel", { numeric: "auto" });
  if (abs < minute) return rel.format(0, "minute");
  if (abs < hour) return rel.format(Math.round(diff / minute), "minute");
  if (abs < day) return rel.format(Math.round(diff / hour), "hour");
  if (abs < 45 * day) return rel.format(Math.round(diff / day), "day");
  return rel.format(Math.round(diff / (30 * day)), "month");
}

/** "9:00 AM" / "09:00" as the language writes an hour of the day. */
export function formatHour(hourOfDay) {
  return formatTime(`${String(hourOfDay).padStart(2, "0")}:00`);
}

/** A wall time "HH:MM" as the language writes it ("9:30 AM", "09:30"). */
export function formatTime(hhmm) {
  const [hours, minutes] = hhmm.split(":").map(Number);
  return formatter("date", { timeZone: "UTC", ...timeOptions() }).format(Date.UTC(2024, 0, 1, hours, minutes));
}

/** A calendar day "YYYY-MM-DD" as typed in a date field: "12/3/2026" (en), "03.12.2026" (ru). */
export function formatDateField(day) {
  const [year, month, date] = day.split("-");
  if (lang === "ru") return `${date}.${month}.${year}`;
  return `${Number(month)}/${Number(date)}/${year}`;
}

/** The placeholder of a date field. */
export function dateFieldPattern() {
  return lang === "ru" ? "дд.мм.гггг" : "mm/dd/yyyy";
}

function validDay(year, month, date) {
  const probe = new Date(Date.UTC(year, month - 1, date));
  if (probe.getUTCFullYear() !== year || probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== date) return null;
  return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(date).padStart(2, "0")}`;
}

/** "YYYY-MM-DD" from what was typed (the language's order, or ISO); null when it is no day. */
export function parseDateField(text) {
  const value = String(text || "").trim();
  let match = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(value);
  if (match) return validDay(Number(match[1]), Number(match[2]), Number(match[3]));
  match = /^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$/.exec(value);
  if (!match) return null;
  const [first, second, year] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // Russian writes day.month.year; English (US) month/day/year.
  return lang === "ru" ? validDay(year, second, first) : validDay(year, first, second);
}

/** "HH:MM" (24 h) from "9:30 AM", "9:30pm", "21:30" or "9"; null when it is no time. */
export function parseTimeField(text) {
  const value = String(text || "").trim().toLowerCase().replace(/\s+/g, " ");
  const match = /^(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$/.exec(value);
  if (!match) return null;
  let hours = Number(match[1]);
  const minutes = Number(match[2] ?? "0");
  const suffix = match[3]?.replace(/\./g, "");
  if (minutes > 59) return null;
  if (suffix) {
    if (hours < 1 || hours > 12) return null;
    hours = (hours % 12) + (suffix === "pm" ? 12 : 0);
  } else if (hours > 23) return null;
  return `${String(hours).padStart(2, "0")}:${String(minutes).padStart(2, "0")}`;
}
