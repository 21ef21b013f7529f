// The Reports page: how well follow-ups happen in a period (figures, charts, a sortable table per
// person), the open deals and leads nobody follows up, and CSV downloads. The server applies team
// visibility; a user without it gets their own figures only, so the page hides the people filter.

import { api, apiDownload, query } from "./api.js";
import { crmPath, inFrame, openPath } from "./bx.js";
import { ownerTypeLabel, typeLabel } from "./cards.js";
import { barLineChart, donutChart, fitChart, legend, shareBars } from "./charts.js";
import { openCreateDialog } from "./dialogs.js";
import { avatar, h, icon, replace } from "./dom.js";
import { currentLanguage, formatDay, formatNumber, t, tn } from "./i18n.js";
import { TYPES, app, errorText, myId, ownerKinds, pickableUsers, portalZone, seesTeam, userById } from "./state.js";
import { announce, button, dateField, toast } from "./ui.js";
import { addDays, dayToUtcNoon, localDate, weekStart } from "./zone.js";

export const PERIODS = ["this_week", "last_week", "this_month", "last_days", "custom"];
const RECENT_DAYS = 30;
const MAX_DAYS = 366; // the server's limit (domain/reports.py MAX_PERIOD_DAYS)
const COVERAGE_TYPES = ["deal", "lead"];
const COVERAGE_SHOWN = 8;
const DAY_MS = 86400000;

/** The first and last day ("YYYY-MM-DD", both included) of period ``key`` seen from ``today``. */
export function periodRange(key, today, custom = {}) {
  switch (key) {
    case "this_week":
      return { from: weekStart(today), to: today };
    case "last_week": {
      const monday = addDays(weekStart(today), -7);
      return { from: monday, to: addDays(monday, 6) };
    }
    case "this_month":
      return { from: `${today.slice(0, 8)}01`, to: today };
    case "custom":
      return { from: custom.from || "", to: custom.to || "" };
    default:
      return { from: addDays(today, 1 - RECENT_DAYS), to: today };
  }
}

/** Why a custom range cannot be asked for, or null when it can. */
function rangeProblem({ from, to }) {
  if (!from || !to) return t("reports.range_missing");
  if (to < from) return t("reports.range_order");
  if ((dayToUtcNoon(to) - dayToUtcNoon(from)) / DAY_MS + 1 > MAX_DAYS) return t("reports.range_long", { days: formatNumber(MAX_DAYS) });
  return null;
}

function today() {
  return localDate(Date.now(), portalZone());
}

// ---------------------------------------------------------------- formatting

const formats = new Map();
function numberFormat(options) {
  const key = `${currentLanguage()}|${JSON.stringify(options)}`;
  if (!formats.has(key)) formats.set(key, new Intl.NumberFormat(currentLanguage(), options));
  return formats.get(key);
}

const NO_VALUE = "—";

/** 0.8333 as "83%" ("83 %" in Russian); null as a dash. */
function percent(share) {
  return share === null || share === undefined ? NO_VALUE : numberFormat({ style: "percent", maximumFractionDigits: 0 }).format(share);
}

function days(value) {
  return value === null || value === undefined ? NO_VALUE : tn("reports.days", value);
}

function money(amount, currency) {
  if (amount === null || amount === undefined) return null;
  try {
    return numberFormat({ style: "currency", currency: currency || "USD", maximumFractionDigits: 0 }).format(amount);
  } catch {
    // An unknown currency code: the number with the code next to it.
    return `${numberFormat({ maximumFractionDigits: 0 }).format(amount)} ${currency || ""}`.trim();
  }
}

function rangeText({ from, to }) {
  if (!from || !to) return "";
  const format = new Intl.DateTimeFormat(currentLanguage(), { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" });
  return from === to ? format.format(dayToUtcNoon(from)) : format.formatRange(dayToUtcNoon(from), dayToUtcNoon(to));
}

function personName(row) {
  if (row.user_id === myId()) return app.me.user.name;
  return row.name || userById(row.user_id).name;
}

// ---------------------------------------------------------------- saved choices

function prefsKey() {
  return `touchpoints.reports.v1.${app.me?.portal.domain || "portal"}.${myId()}`;
}

function loadPrefs() {
  const prefs = {
    period: "last_days",
    custom: { from: "", to: "" },
    filters: { owner_type: "", type: "", responsible_id: "" },
    sort: { key: "name", dir: "ascending" },
  };
  try {
    const saved = JSON.parse(localStorage.getItem(prefsKey()) || "{}");
    if (PERIODS.includes(saved.period)) prefs.period = saved.period;
    if (saved.custom && typeof saved.custom === "object") prefs.custom = { from: String(saved.custom.from || ""), to: String(saved.custom.to || "") };
    const filters = saved.filters || {};
    if (ownerKinds().includes(filters.owner_type)) prefs.filters.owner_type = filters.owner_type;
    if (TYPES.includes(filters.type)) prefs.filters.type = filters.type;
    if (seesTeam() && pickableUsers().some((user) => String(user.id) === String(filters.responsible_id))) prefs.filters.responsible_id = String(filters.responsible_id);
    if (saved.sort && typeof saved.sort.key === "string" && ["ascending", "descending"].includes(saved.sort.dir)) prefs.sort = saved.sort;
  } catch {
    // Unreadable or unavailable storage: the defaults.
  }
  if (prefs.period === "custom" && rangeProblem(prefs.custom)) prefs.period = "last_days";
  return prefs;
}

function savePrefs(prefs) {
  try {
    localStorage.setItem(prefsKey(), JSON.stringify(prefs));
  } catch {
    // Storage may be unavailable in a third-party frame; the choices then last for the visit.
  }
}

// ---------------------------------------------------------------- the table's columns

/** The per-person table's columns; ``kind`` says how a value reads and sorts. */
function columns() {
  return [
    { key: "name", label: t("reports.col.person"), kind: "text" },
    { key: "created", label: t("reports.col.created"), kind: "count" },
    { key: "completed", label: t("reports.col.completed"), kind: "count" },
    { key: "on_time_rate", label: t("reports.col.on_time"), kind: "rate", part: "completed_on_time" },
    { key: "completed_late", label: t("reports.col.late"), kind: "count" },
    { key: "median_days_late", label: t("reports.col.median_late"), kind: "days" },
    { key: "overdue", label: t("reports.col.overdue"), kind: "count", alert: true },
    { key: "note_rate", label: t("reports.col.notes"), kind: "rate", part: "completed_with_note" },
    { key: "follow_up_rate", label: t("reports.col.chain"), kind: "rate", part: "completed_followed_up" },
    { key: "cancelled", label: t("reports.col.cancelled"), kind: "count" },
    { key: "orphaned", label: t("reports.col.orphaned"), kind: "count" },
  ];
}

/** Rows sorted by ``sort``; values nobody can have (null) go last either way, then by name. */
export function sortRows(rows, sort, nameOf) {
  const collator = new Intl.Collator(currentLanguage(), { sensitivity: "base", numeric: true });
  const sign = sort.dir === "descending" ? -1 : 1;
  const byName = (a, b) => collator.compare(nameOf(a), nameOf(b));
  return [...rows].sort((a, b) => {
    if (sort.key === "name") return sign * byName(a, b);
    const left = a[sort.key];
    const right = b[sort.key];
    if (left === null || left === undefined) return right === null || right === undefined ? byName(a, b) : 1;
    if (right === null || right === undefined) return -1;
    return sign * (left - right) || byName(a, b);
  });
}

// ---------------------------------------------------------------- the view

export function mountReports(root) {
  const prefs = loadPrefs();
  const state = {
    ...prefs,
    summary: null,
    error: null,
    loading: true,
    problem: null,
    coverage: null,
    coverageError: null,
    coverageLoading: true,
    coverageAll: false,
  };
  let summarySeq = 0;
  let coverageSeq = 0;
  let inflight = 0;

  const view = h("div", { class: "reports-view", dataset: { testid: "reports-view" } });
  const controls = h("div", { class: "report-controls" });
  const summaryHost = h("div", { class: "report-body", "aria-busy": "true" });
  const coverageHost = h("section", { class: "panel report-panel coverage", "aria-labelledby": "report-coverage-title", dataset: { testid: "coverage" } });
  replace(
    view,
    h("div", { class: "toolbar report-toolbar" }, h("div", { class: "toolbar__title" }, h("h1", { class: "page-title" }, t("reports.title")))),
    controls,
    seesTeam() ? null : h("p", { class: "notice report-notice", dataset: { testid: "reports-own-only" } }, icon("lock"), h("span", {}, t("reports.own_only"))),
    summaryHost,
    coverageHost,
  );
  replace(root, view);

  // data-busy tells tests (and styles) that the server has not answered yet.
  const busy = (delta) => {
    inflight += delta;
    view.toggleAttribute("data-busy", inflight > 0);
  };

  function range() {
    return periodRange(state.period, today(), state.custom);
  }

  function params() {
    const { from, to } = range();
    return { from, to, owner_type: state.filters.owner_type, type: state.filters.type, responsible_id: state.filters.responsible_id };
  }

  function remember() {
    savePrefs({ period: state.period, custom: state.custom, filters: state.filters, sort: state.sort });
  }

  async function loadSummary() {
    const mine = ++summarySeq;
    state.problem = state.period === "custom" ? rangeProblem(state.custom) : null;
    renderControls();
    if (state.problem) return;
    state.loading = true;
    renderSummary();
    busy(1);
    try {
      const summary = await api("GET", `/reports/summary${query(params())}`);
      if (mine !== summarySeq) return;
      state.summary = summary;
      state.error = null;
      announce(t("reports.loaded", { range: rangeText({ from: summary.period.from, to: summary.period.to }) }));
    } catch (error) {
      if (mine !== summarySeq) return;
      state.error = error;
      if (state.summary) toast(`${t("reports.refresh_failed")} ${errorText(error)}`, { kind: "error" });
    } finally {
      busy(-1);
    }
    state.loading = false;
    renderControls();
    renderSummary();
  }

  async function loadCoverage() {
    const mine = ++coverageSeq;
    state.coverageLoading = true;
    renderCoverage();
    busy(1);
    try {
      const ownerType = COVERAGE_TYPES.includes(state.filters.owner_type) ? state.filters.owner_type : "";
      const coverage = await api("GET", `/reports/coverage${query({ owner_type: ownerType, responsible_id: state.filters.responsible_id })}`);
      if (mine !== coverageSeq) return;
      state.coverage = coverage;
      state.coverageError = null;
    } catch (error) {
      if (mine !== coverageSeq) return;
      state.coverageError = error;
    } finally {
      busy(-1);
    }
    state.coverageLoading = false;
    renderCoverage();
  }

  function setPeriod(key) {
    if (key === "custom" && rangeProblem(state.custom)) state.custom = range();
    state.period = key;
    remember();
    loadSummary();
    if (key === "custom") controls.querySelector("[data-testid=report-from]")?.focus();
  }

  function setCustom(part, value) {
    state.custom = { ...state.custom, [part]: value };
    remember();
    loadSummary();
  }

  function setFilter(name, value) {
    state.filters = { ...state.filters, [name]: value };
    remember();
    loadSummary();
    if (name !== "type") loadCoverage();
  }

  function setSort(key) {
    const numeric = key !== "name";
    const dir = state.sort.key === key ? (state.sort.dir === "ascending" ? "descending" : "ascending") : numeric ? "descending" : "ascending";
    state.sort = { key, dir };
    remember();
    const table = summaryHost.querySelector("[data-testid=report-table]");
    if (table && state.summary) {
      table.replaceWith(tableView(state.summary));
      summaryHost.querySelector(`[data-testid=sort-${key}]`)?.focus();
    }
  }

  async function download(kind) {
    if (state.problem) return;
    const path = kind === "users" ? "/reports/users.csv" : "/reports/touchpoints.csv";
    const { from, to } = range();
    busy(1);
    try {
      const { blob, filename } = await apiDownload(`${path}${query(params())}`);
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: filename || `touchpoints-${kind}-${from}_${to}.csv`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      toast(`${t("reports.download_failed")} ${errorText(error)}`, { kind: "error" });
    } finally {
      busy(-1);
    }
  }

  // ---------------------------------------------------------------- controls

  function renderControls() {
    const active = controls.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    const { from, to } = range();
    const periodButtons = h(
      "div",
      { class: "period", role: "group", "aria-label": t("reports.period") },
      PERIODS.map((key) =>
        h(
          "button",
          { type: "button", class: ["period__item", state.period === key && "is-active"], "aria-pressed": String(state.period === key), dataset: { testid: `period-${key}` }, on: { click: () => setPeriod(key) } },
          periodLabel(key),
        ),
      ),
    );
    const dateInput = (part, label) => {
      const day = dateField({
        value: state.custom[part] || null,
        testid: `report-${part}`,
        label,
        className: "input--date",
        min: part === "to" ? state.custom.from : undefined,
        max: part === "from" ? state.custom.to : undefined,
        onChange: (value) => setCustom(part, value || ""),
      });
      if (state.problem) {
        day.input.setAttribute("aria-invalid", "true");
        day.input.setAttribute("aria-describedby", "report-range-problem");
      }
      return h("label", { class: "period__date" }, h("span", { class: "filter__label" }, label), day.node);
    };
    const custom = state.period === "custom" ? h("div", { class: "period__custom" }, dateInput("from", t("reports.from")), dateInput("to", t("reports.to"))) : null;
    const selectFilter = (name, label, options) =>
      h(
        "label",
        { class: "filter" },
        h("span", { class: "filter__label" }, label),
        h(
          "select",
          { class: "filter__select", dataset: { testid: `report-filter-${name}` }, on: { change: (event) => setFilter(name, event.target.value) } },
          options.map((option) => h("option", { value: option.value, selected: option.value === state.filters[name] }, option.label)),
        ),
      );
    replace(
      controls,
      h(
        "div",
        { class: "report-controls__row" },
        periodButtons,
        custom,
        h("p", { class: "period__range", dataset: { testid: "report-range" } }, h("strong", {}, rangeText({ from, to })), h("span", { class: "muted small" }, t("reports.zone", { zone: state.summary?.time_zone || portalZone() }))),
      ),
      state.problem ? h("p", { class: "field__error", id: "report-range-problem", role: "alert", dataset: { testid: "report-range-problem" } }, state.problem) : null,
      h(
        "div",
        { class: "report-controls__row" },
        h(
          "div",
          { class: "filters", role: "group", "aria-label": t("filter.label") },
          selectFilter("owner_type", t("filter.record"), [{ value: "", label: t("filter.all_records") }, ...ownerKinds().map((type) => ({ value: type, label: ownerTypeLabel(type) }))]),
          selectFilter("type", t("filter.type"), [{ value: "", label: t("filter.all_types") }, ...TYPES.map((type) => ({ value: type, label: typeLabel(type) }))]),
          seesTeam()
            ? selectFilter("responsible_id", t("reports.person"), [
                { value: "", label: t("reports.everyone") },
                ...pickableUsers().map((user) => ({ value: String(user.id), label: user.id === myId() ? t("user.me_named", { name: user.name }) : user.name })),
              ])
            : null,
        ),
        h(
          "div",
          { class: "report-downloads", role: "group", "aria-label": t("reports.downloads") },
          button(t("reports.csv_users"), { kind: "light", size: "sm", iconName: "download", disabled: Boolean(state.problem), title: t("reports.csv_users_hint"), dataset: { testid: "csv-users" }, onClick: () => download("users") }),
          button(t("reports.csv_touchpoints"), { kind: "light", size: "sm", iconName: "download", disabled: Boolean(state.problem), title: t("reports.csv_touchpoints_hint"), dataset: { testid: "csv-touchpoints" }, onClick: () => download("touchpoints") }),
        ),
      ),
    );
    if (active) controls.querySelector(`[data-testid="${active}"]`)?.focus();
  }

  function periodLabel(key) {
    switch (key) {
      case "this_week":
        return t("reports.period.this_week");
      case "last_week":
        return t("reports.period.last_week");
      case "this_month":
        return t("reports.period.this_month");
      case "custom":
        return t("reports.period.custom");
      default:
        return t("reports.period.last_days");
    }
  }

  // ---------------------------------------------------------------- figures, charts, table

  function renderSummary() {
    summaryHost.classList.toggle("is-loading", state.loading && Boolean(state.summary));
    summaryHost.setAttribute("aria-busy", String(state.loading));
    if (state.problem) {
      summaryHost.classList.add("is-loading"); // the figures shown are not for the chosen days
      return;
    }
    if (!state.summary) {
      if (state.error) {
        replace(summaryHost, h("div", { class: "empty-state", role: "alert" }, h("p", {}, t("reports.failed")), h("p", { class: "muted" }, errorText(state.error)), button(t("action.retry"), { kind: "primary", onClick: loadSummary })));
      } else {
        replace(summaryHost, h("div", { class: "boot", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { class: "visually-hidden" }, t("reports.loading"))));
      }
      return;
    }
    if (state.loading) return; // keep showing the last answer (dimmed) until the new one is here
    const summary = state.summary;
    replace(
      summaryHost,
      figuresView(summary),
      h(
        "div",
        { class: "report-charts" },
        chartPanel("daily", t("reports.chart.daily"), dailyChart(summary)),
        chartPanel("mix", t("reports.chart.mix"), mixChart(summary)),
        chartPanel("on-time", t("reports.chart.on_time"), onTimeChart(summary)),
      ),
      h(
        "section",
        { class: "panel report-panel", "aria-labelledby": "report-table-title" },
        h("h2", { class: "panel__title", id: "report-table-title" }, t("reports.table.title")),
        tableView(summary),
      ),
    );
  }

  function figuresView(summary) {
    const team = summary.team;
    const figure = (key, label, value, hint, { alert = false, title } = {}) =>
      h(
        "div",
        { class: ["figure", alert && "figure--alert"], dataset: { testid: `figure-${key}` }, title: title || null },
        h("span", { class: "figure__label" }, label),
        h("span", { class: "figure__value", dataset: { testid: "value" } }, value),
        h("span", { class: "figure__hint" }, hint),
      );
    const of = (part) => (team.completed ? t("reports.of", { part: formatNumber(part), whole: formatNumber(team.completed) }) : t("reports.nothing_completed"));
    return h(
      "div",
      { class: "figures", role: "group", "aria-label": t("reports.figures"), dataset: { testid: "report-summary" } },
      figure("created", t("reports.fig.created"), formatNumber(team.created), t("reports.fig.created_hint")),
      figure("completed", t("reports.fig.completed"), formatNumber(team.completed), t("reports.fig.completed_hint", { on_time: formatNumber(team.completed_on_time), late: formatNumber(team.completed_late) })),
      figure("on_time", t("reports.fig.on_time"), percent(team.on_time_rate), of(team.completed_on_time), { title: t("reports.fig.on_time_hint") }),
      figure("overdue", t("reports.fig.overdue"), formatNumber(team.overdue), t("reports.fig.overdue_hint"), { alert: team.overdue > 0 }),
      figure("notes", t("reports.fig.notes"), percent(team.note_rate), of(team.completed_with_note), { title: t("reports.fig.notes_hint") }),
      figure("chain", t("reports.fig.chain"), `${summary.closed_checked || team.follow_up_rate === null ? "" : "≥ "}${percent(team.follow_up_rate)}`, of(team.completed_followed_up), {
        title: summary.closed_checked ? t("reports.fig.chain_hint") : `${t("reports.fig.chain_hint")} ${t("reports.fig.chain_partial")}`,
      }),
      figure("late", t("reports.fig.late"), days(team.median_days_late), team.completed_late ? t("reports.fig.late_hint", { count: formatNumber(team.completed_late) }) : t("reports.fig.none_late")),
    );
  }

  function chartPanel(key, title, body) {
    const id = `report-chart-${key}`;
    return h("section", { class: ["panel", "report-panel", "chart-panel", `chart-panel--${key}`], "aria-labelledby": id, dataset: { testid: `chart-${key}` } }, h("h2", { class: "panel__title", id }, title), body);
  }

  function dailyChart(summary) {
    const completed = summary.daily.reduce((sum, point) => sum + point.completed, 0);
    const begun = summary.daily.filter((point) => point.overdue !== null);
    const lastOverdue = begun.length ? begun[begun.length - 1].overdue : 0;
    const points = summary.daily.map((point) => {
      const day = formatDay(point.day, { year: false });
      return {
        label: formatDay(point.day, { weekday: false, year: false }),
        bar: point.completed,
        line: point.overdue,
        tip: point.overdue === null
          ? t("reports.chart.tip_future", { day, completed: formatNumber(point.completed) })
          : t("reports.chart.tip", { day, completed: formatNumber(point.completed), overdue: formatNumber(point.overdue) }),
      };
    });
    const host = h("div", { class: "chart-host chart-host--daily" });
    const label = t("reports.chart.daily_label", { completed: formatNumber(completed), overdue: formatNumber(lastOverdue) });
    fitChart(host, (width) => barLineChart(width, { points, label, formatValue: formatNumber }));
    return [
      legend([
        { key: "completed", shape: "bar", label: t("reports.chart.completed") },
        { key: "overdue", shape: "line", label: t("reports.chart.overdue") },
      ]),
      host,
    ];
  }

  function mixChart(summary) {
    const byType = summary.mix.by_type;
    const total = TYPES.reduce((sum, type) => sum + (byType[type] || 0), 0);
    if (!total) return h("p", { class: "chart-empty muted" }, t("reports.chart.none_created"));
    const share = (value) => percent(value / total);
    const slices = TYPES.map((type) => ({ key: type, value: byType[type] || 0, tip: `${typeLabel(type)}: ${formatNumber(byType[type] || 0)} (${share(byType[type] || 0)})` }));
    const chart = donutChart({
      slices,
      label: slices.filter((slice) => slice.value).map((slice) => slice.tip).join("; "),
      centre: formatNumber(total),
      centreLabel: t("reports.chart.created"),
    });
    return h(
      "div",
      { class: "mix" },
      h("div", { class: "chart-host chart-host--donut" }, chart),
      legend(slices.map((slice) => ({ key: slice.key, label: typeLabel(slice.key), value: `${formatNumber(slice.value)} · ${share(slice.value)}` }))),
    );
  }

  function onTimeChart(summary) {
    if (!summary.users.length) return h("p", { class: "chart-empty muted" }, t("reports.table.empty"));
    const rows = sortRows(summary.users, { key: "on_time_rate", dir: "descending" }, personName).map((row) => {
      const name = personName(row);
      const detail = row.completed ? t("reports.of", { part: formatNumber(row.completed_on_time), whole: formatNumber(row.completed) }) : t("reports.nothing_completed");
      return { label: name, value: row.on_time_rate, text: percent(row.on_time_rate), tip: `${name}: ${percent(row.on_time_rate)} (${detail})` };
    });
    const host = h("div", { class: "chart-host chart-host--shares" });
    fitChart(host, (width) => shareBars(width, { rows, label: rows.map((row) => row.tip).join("; "), formatShare: percent }));
    return host;
  }

  function tableView(summary) {
    const cols = columns();
    const rows = sortRows(summary.users, state.sort, personName);
    const cell = (col, row, { team = false } = {}) => {
      if (col.key === "name") {
        return team
          ? h("th", { scope: "row", class: "report-table__name" }, t("reports.team"))
          : h("th", { scope: "row", class: "report-table__name" }, h("span", { class: "person" }, avatar(userById(row.user_id), "sm"), h("span", { class: "person__name" }, personName(row))));
      }
      const value = row[col.key];
      let text = formatNumber(value);
      let title = null;
      if (col.kind === "rate") {
        text = percent(value);
        title = row.completed ? t("reports.of", { part: formatNumber(row[col.part]), whole: formatNumber(row.completed) }) : t("reports.nothing_completed");
      } else if (col.kind === "days") {
        text = days(value);
      }
      return h("td", { class: ["num", col.alert && value > 0 && "is-alert"], title }, text);
    };
    const header = (col) => {
      const sorted = state.sort.key === col.key;
      return h(
        "th",
        { scope: "col", class: [col.key === "name" ? "report-table__name" : "num"], "aria-sort": sorted ? state.sort.dir : null },
        h(
          "button",
          { type: "button", class: ["sort", sorted && "is-sorted"], dataset: { testid: `sort-${col.key}` }, on: { click: () => setSort(col.key) } },
          h("span", {}, col.label),
          h("span", { class: ["sort__mark", sorted && `sort__mark--${state.sort.dir}`], "aria-hidden": "true" }),
        ),
      );
    };
    return h(
      "div",
      { class: "table-scroll", dataset: { testid: "report-table" } },
      h(
        "table",
        { class: "report-table" },
        h("caption", { class: "visually-hidden" }, t("reports.table.caption")),
        h("thead", {}, h("tr", {}, cols.map(header))),
        h(
          "tbody",
          {},
          rows.length
            ? rows.map((row) => h("tr", { dataset: { testid: "report-row", userId: String(row.user_id) } }, cols.map((col) => cell(col, row))))
            : h("tr", {}, h("td", { colSpan: cols.length, class: "report-table__empty" }, t("reports.table.empty"))),
        ),
        seesTeam() && rows.length > 1 ? h("tfoot", {}, h("tr", { dataset: { testid: "report-team-row" } }, cols.map((col) => cell(col, summary.team, { team: true })))) : null,
      ),
    );
  }

  // ---------------------------------------------------------------- coverage

  function renderCoverage() {
    const title = h("h2", { class: "panel__title", id: "report-coverage-title" }, t("reports.coverage.title"));
    const hint = h("p", { class: "muted small" }, t("reports.coverage.hint"));
    coverageHost.classList.toggle("is-loading", state.coverageLoading && Boolean(state.coverage));
    if (!state.coverage) {
      if (state.coverageError) {
        replace(coverageHost, title, h("div", { class: "coverage__problem", role: "alert" }, h("p", {}, t("reports.coverage.failed")), h("p", { class: "muted small" }, errorText(state.coverageError)), button(t("action.retry"), { kind: "light", size: "sm", onClick: loadCoverage })));
      } else {
        replace(coverageHost, title, hint, h("div", { class: "coverage__loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { class: "muted small" }, t("reports.coverage.loading"))));
      }
      return;
    }
    if (state.coverageLoading) return;
    const coverage = state.coverage;
    const kinds = COVERAGE_TYPES.filter((type) => type in coverage.open_records);
    if (!kinds.length) {
      replace(coverageHost, title, h("p", { class: "muted" }, t("reports.coverage.disabled")));
      return;
    }
    const counts = h(
      "ul",
      { class: "coverage__counts" },
      kinds.map((type) =>
        h(
          "li",
          { class: "coverage__count", dataset: { testid: `coverage-count-${type}` } },
          t("reports.coverage.count", {
            kind: t(`owner.${type}_plural`),
            without: formatNumber(coverage.without_touch_point[type] || 0),
            open: formatNumber(coverage.open_records[type] || 0),
          }),
        ),
      ),
    );
    const items = coverage.items;
    const shown = state.coverageAll ? items : items.slice(0, COVERAGE_SHOWN);
    replace(
      coverageHost,
      h("div", { class: "coverage__head" }, title, counts),
      hint,
      coverage.truncated ? h("p", { class: "notice" }, t("reports.coverage.truncated")) : null,
      items.length
        ? h("ul", { class: "coverage__list", dataset: { testid: "coverage-list" } }, shown.map(coverageItem))
        : h("p", { class: "coverage__none", dataset: { testid: "coverage-none" } }, icon("check"), h("span", {}, t("reports.coverage.none"))),
      items.length > COVERAGE_SHOWN
        ? h(
            "button",
            { type: "button", class: "link", dataset: { testid: "coverage-more" }, on: { click: () => { state.coverageAll = !state.coverageAll; renderCoverage(); } } },
            state.coverageAll ? t("reports.coverage.fewer") : t("reports.coverage.all", { count: formatNumber(items.length) }),
          )
        : null,
    );
  }

  function coverageItem(item) {
    const owner = { type: item.type, id: item.id, title: item.title };
    const titleText = item.title ?? t("record.hidden");
    const titleNode = inFrame()
      ? h("button", { type: "button", class: "link coverage__title", title: titleText, on: { click: async () => { if (await openPath(crmPath(owner))) toast(t("details.crm_failed"), { kind: "error" }); } } }, titleText)
      : h("span", { class: "coverage__title", title: titleText }, titleText);
    const amount = money(item.amount, item.currency);
    const responsible = item.assigned_by_id ? userById(item.assigned_by_id) : null;
    return h(
      "li",
      { class: "coverage__item", dataset: { testid: "coverage-item", type: item.type, id: String(item.id) } },
      h(
        "div",
        { class: "coverage__main" },
        titleNode,
        h("span", { class: "coverage__meta muted small" }, [ownerTypeLabel(item.type), amount].filter(Boolean).join(" · ")),
      ),
      responsible ? h("span", { class: "person coverage__person", title: t("reports.coverage.responsible", { name: responsible.name }) }, avatar(responsible, "sm"), h("span", { class: "person__name" }, responsible.name)) : h("span"),
      button(t("reports.coverage.schedule"), {
        kind: "primary",
        size: "sm",
        iconName: "plus",
        "aria-label": t("reports.coverage.schedule_label", { title: titleText }),
        dataset: { testid: "coverage-schedule" },
        onClick: () =>
          openCreateDialog({
            owner,
            onDone: () => {
              loadCoverage();
              loadSummary();
            },
          }),
      }),
    );
  }

  renderControls();
  loadSummary();
  loadCoverage();
}
