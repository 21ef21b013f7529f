// Translations (static/i18n/<lang>.json) and locale-aware formatting with Intl.

import { dayToUtcNoon } from "./zone.js";

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

/** "Tue, 14 Oct, 10:00" in ``zone`` (the year only when it is not this year). */
export function formatDateTime(ms, zone, { withYear = false } = {}) {
  const options = { timeZone: zone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  if (withYear || new Date(ms).getUTCFullYear() !== new Date().getUTCFullYear()) options.year = "numeric";
  return formatter("date", options).format(ms);
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

/** "10:00" as the locale writes an hour of the day. */
export function formatHour(hourOfDay) {
  return formatter("date", { timeZone: "UTC", hour: "2-digit", minute: "2-digit" }).format(Date.UTC(2024, 0, 1, hourOfDay));
}
