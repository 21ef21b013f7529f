// Work on many touch-points at once: the selection's sticky bar (reschedule, reassign, complete,
// cancel through POST /touchpoints/bulk) and the overdue sweep (POST /touchpoints/sweep).
// Both answer with an undo token, offered in the result's toast.

import { api } from "./api.js";
import { userSelect } from "./dialogs.js";
import { h } from "./dom.js";
import { formatDay, formatNumber, t, tn } from "./i18n.js";
import { app, errorText } from "./state.js";
import { announce, button, confirmDialog, dateField, field, formDialog, openMenu, toast } from "./ui.js";
import { undoToast } from "./undo.js";

/** The server's quick dates, in the order the menus offer them. */
export const PRESET_KEYS = ["today", "tomorrow", "next_working_day", "next_monday", "in_default_interval"];

/** Menu items for the quick dates ``app.presets`` holds; ``pick(day, key)`` is called with one. */
export function presetItems(pick, { prefix = "preset" } = {}) {
  const presets = app.presets || {};
  return PRESET_KEYS.filter((key) => presets[key]).map((key) => ({
    key: `${prefix}-${key}`,
    label: `${t(`preset.${key}`)} · ${formatDay(presets[key], { year: false })}`,
    iconName: "calendar",
    onSelect: () => pick(presets[key], key),
  }));
}

/** Ask for a day or a shift of ±n working days; resolves to a bulk body part or null. */
function askDateOrShift(title) {
  return new Promise((resolve) => {
    let answer = null;
    const day = dateField({ testid: "bulk-date", label: t("bulk.date") });
    const shift = h("input", { type: "number", class: "input input--narrow", step: 1, min: -365, max: 365, dataset: { testid: "bulk-shift" } });
    const submit = button(t("bulk.apply"), { kind: "primary", type: "submit", dataset: { testid: "bulk-date-submit" } });
    const form = h(
      "form",
      { class: "form", noValidate: true, id: `bulk-date-${Date.now()}` },
      h("div", { class: "field" }, h("span", { class: "field__label" }, t("bulk.date")), day.node),
      field({ label: t("bulk.shift"), control: shift, hint: t("bulk.shift_hint") }),
    );
    const handle = formDialog(form, submit, { title, size: "sm", onClose: () => resolve(answer) });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const picked = day.read();
      const n = Number.parseInt(shift.value, 10);
      if (picked) answer = { day: picked };
      else if (Number.isInteger(n) && n !== 0) answer = { shift: { working_days: n } };
      else {
        toast(t("bulk.date_needed"), { kind: "error" });
        return;
      }
      handle.close();
    });
    day.input.focus();
  });
}

function askResponsible(count) {
  return new Promise((resolve) => {
    let answer = null;
    const people = userSelect(null);
    people.dataset.testid = "bulk-responsible";
    const submit = button(t("bulk.reassign_submit"), { kind: "primary", type: "submit", dataset: { testid: "bulk-reassign-submit" } });
    const form = h("form", { class: "form", id: `bulk-reassign-${Date.now()}` }, field({ label: t("field.responsible"), control: people }));
    const handle = formDialog(form, submit, { title: tn("bulk.reassign_title", count), size: "sm", onClose: () => resolve(answer) });
    people.focus();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      answer = { responsible_id: Number(people.value) };
      handle.close();
    });
  });
}

function askNote(count) {
  return new Promise((resolve) => {
    let answer = null;
    const note = h("textarea", { class: "input", rows: 4, maxLength: 10000, required: true, dataset: { testid: "bulk-note" } });
    const submit = button(t("bulk.complete_submit"), { kind: "success", iconName: "check", type: "submit", dataset: { testid: "bulk-complete-submit" } });
    const form = h("form", { class: "form", noValidate: true, id: `bulk-note-${Date.now()}` }, field({ label: t("complete.note"), control: note, required: true, hint: t("bulk.complete_hint") }));
    const handle = formDialog(form, submit, { title: tn("bulk.complete_title", count), size: "sm", onClose: () => resolve(answer) });
    note.focus();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!note.value.trim()) {
        toast(t("bulk.note_needed"), { kind: "error" });
        note.focus();
        return;
      }
      answer = { result_note: note.value.trim() };
      handle.close();
    });
  });
}

/**
 * The sticky bar for a selection. ``host`` gives {ids(), clear(), setBusy(bool), reload()}.
 * Returns the bar's node for the view to place.
 */
export function bulkBar(host, { busy = false } = {}) {
  const ids = host.ids();
  const count = ids.length;

  async function run(action, extra, label) {
    host.setBusy(true);
    announce(t("bulk.running", { count: formatNumber(count) }));
    try {
      const answer = await api("POST", "/touchpoints/bulk", { ids, action, ...extra });
      const done = answer.done || [];
      const failed = answer.failed || [];
      host.keepOnly(failed.map((item) => item.id));
      let said = tn(`bulk.done_${action}`, done.length);
      if (failed.length) said += ` ${tn("bulk.failed", failed.length)}`;
      if (label) said += ` (${label})`;
      undoToast(said, answer.undo, { failed, onUndone: () => host.reload() });
      announce(said);
    } catch (error) {
      toast(`${t("bulk.error")} ${errorText(error)}`, { kind: "error" });
    } finally {
      host.setBusy(false);
      await host.reload();
    }
  }

  function rescheduleMenu(anchor) {
    openMenu(
      anchor,
      [
        { group: t("bulk.quick_dates") },
        ...presetItems((day, key) => run("reschedule", { day }, t(`preset.${key}`)), { prefix: "bulk-preset" }),
        { group: t("bulk.shift_group") },
        { key: "bulk-plus-1", label: t("bulk.plus_working_day"), iconName: "clock", onSelect: () => run("reschedule", { shift: { working_days: 1 } }) },
        { key: "bulk-minus-1", label: t("bulk.minus_working_day"), iconName: "clock", onSelect: () => run("reschedule", { shift: { working_days: -1 } }) },
        "separator",
        {
          key: "bulk-other",
          label: t("bulk.other_date"),
          iconName: "calendar",
          restoreFocus: false,
          onSelect: async () => {
            const part = await askDateOrShift(tn("bulk.reschedule_title", count));
            if (part) run("reschedule", part);
          },
        },
      ],
      { label: t("bulk.reschedule") },
    );
  }

  const disabled = busy || count === 0;
  /** A bar button that asks for what ``action`` needs (``ask(count)``), then runs it. */
  const askThenRun = (action, iconName, ask) =>
    button(t(`bulk.${action}`), {
      iconName,
      disabled,
      dataset: { testid: `bulk-${action}` },
      onClick: async () => {
        const part = await ask(count);
        if (part) run(action, part);
      },
    });
  return h(
    "div",
    { class: ["bulk-bar", busy && "is-busy"], role: "region", "aria-label": t("bulk.label"), "aria-busy": busy ? "true" : "false", dataset: { testid: "bulk-bar" } },
    h("span", { class: "bulk-bar__count", dataset: { testid: "bulk-count" } }, tn("bulk.selected", count)),
    button(t("bulk.reschedule"), {
      iconName: "calendar",
      disabled,
      dataset: { testid: "bulk-reschedule" },
      "aria-haspopup": "menu",
      "aria-expanded": "false",
      onClick: (event) => rescheduleMenu(event.currentTarget),
    }),
    askThenRun("reassign", "user", askResponsible),
    askThenRun("complete", "check", askNote),
    button(t("bulk.cancel"), {
      kind: "danger",
      disabled,
      dataset: { testid: "bulk-cancel" },
      onClick: async () => {
        const ok = await confirmDialog({ title: tn("bulk.cancel_title", count), message: t("bulk.cancel_message"), confirmLabel: t("bulk.cancel_confirm") });
        if (ok) run("cancel", {});
      },
    }),
    busy ? h("progress", { class: "bulk-bar__progress", "aria-label": t("bulk.running", { count: formatNumber(count) }), dataset: { testid: "bulk-progress" } }) : null,
    h("span", { class: "spacer" }),
    h("button", { type: "button", class: "link", disabled: busy, dataset: { testid: "bulk-clear" }, on: { click: () => host.clear() } }, t("bulk.clear")),
  );
}

/** "Move all N overdue to…": a dry run counts them, a confirmation, then the sweep with Undo. */
export function openSweepMenu(anchor, { responsibleId = null, onDone }) {
  const presets = app.presets || {};
  const sweep = async (to, label) => {
    const scope = responsibleId ? { responsible_id: Number(responsibleId) } : {};
    try {
      const dry = await api("POST", "/touchpoints/sweep", { to, ...scope, dry_run: true });
      if (!dry.count) {
        toast(t("sweep.nothing"), { kind: "info" });
        return;
      }
      const ok = await confirmDialog({ title: tn("sweep.confirm_title", dry.count, { to: label }), message: t("sweep.confirm_message"), confirmLabel: t("sweep.confirm"), danger: false });
      if (!ok) return;
      const answer = await api("POST", "/touchpoints/sweep", { to, ...scope });
      const failed = answer.failed || [];
      let said = tn("sweep.done", (answer.done || []).length, { to: label });
      if (failed.length) said += ` ${tn("bulk.failed", failed.length)}`;
      undoToast(said, answer.undo, { failed, onUndone: () => onDone?.() });
      announce(said);
    } catch (error) {
      toast(`${t("sweep.failed")} ${errorText(error)}`, { kind: "error" });
    }
    await onDone?.();
  };
  openMenu(
    anchor,
    [
      { group: t("sweep.to") },
      presets.today ? { key: "sweep-today", label: `${t("preset.today")} · ${formatDay(presets.today, { year: false })}`, iconName: "calendar", onSelect: () => sweep("today", t("preset.today")) } : null,
      presets.next_working_day
        ? { key: "sweep-next", label: `${t("preset.next_working_day")} · ${formatDay(presets.next_working_day, { year: false })}`, iconName: "calendar", onSelect: () => sweep("next_working_day", t("preset.next_working_day")) }
        : null,
      {
        key: "sweep-date",
        label: t("sweep.a_date"),
        iconName: "calendar",
        restoreFocus: false,
        onSelect: async () => {
          const part = await askDay(t("sweep.a_date_title"));
          if (part) sweep(part, formatDay(part));
        },
      },
    ].filter(Boolean),
    { label: t("sweep.label") },
  );
}

/** Ask for one local day; resolves to "YYYY-MM-DD" or null. */
export function askDay(title) {
  return new Promise((resolve) => {
    let answer = null;
    const day = dateField({ testid: "sweep-date", label: t("bulk.date") });
    const submit = button(t("bulk.apply"), { kind: "primary", type: "submit", dataset: { testid: "sweep-date-submit" } });
    const form = h("form", { class: "form", noValidate: true, id: `sweep-date-${Date.now()}` }, h("div", { class: "field" }, h("span", { class: "field__label" }, t("bulk.date")), day.node));
    const handle = formDialog(form, submit, { title, size: "sm", onClose: () => resolve(answer) });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      answer = day.read();
      if (!answer) {
        toast(t("bulk.date_needed"), { kind: "error" });
        return;
      }
      handle.close();
    });
    day.input.focus();
  });
}
