// Settings: the portal's settings (admins edit, everyone reads), "my preferences" for everyone,
// and for admins the export and the erasure of all app data.

import { api, apiDownload } from "./api.js";
import { inFrame, selectUsers } from "./bx.js";
import { avatar, h, icon, nextId, replace } from "./dom.js";
import { formatDay, formatHour, t, weekdayNames } from "./i18n.js";
import { app, errorText, isAdmin, ownerKinds, pickableUsers, smartProcessTitle, userById } from "./state.js";
import { button, dateField, field, openDialog, panel, select, showFieldErrors, toast } from "./ui.js";
import { knownZones } from "./zone.js";

function checkbox(checked, props = {}) {
  return h("input", { type: "checkbox", checked: Boolean(checked), ...props });
}

/** Fields for every setting of the Settings shape (DESIGN.md §3.4); read() gives the body. */
function portalForm(settings, { editable }) {
  const value = structuredClone(settings);
  const zones = knownZones();
  if (!zones.includes(value.time_zone)) zones.unshift(value.time_zone);
  const zone = select(zones.map((name) => ({ value: name, label: name.replaceAll("_", " ") })), { value: value.time_zone, name: "time_zone", dataset: { testid: "setting-time_zone" } });

  const entities = h(
    "div",
    { class: "checks", role: "group", "aria-label": t("settings.entities") },
    ownerKinds().map((type) =>
      h("label", { class: "check" }, checkbox(value.enabled_entities.includes(type), { value: type, name: "enabled_entities" }), h("span", {}, smartProcessTitle(type) || t(String(type).startsWith("dynamic_") ? "owner.smart_process" : `owner.${type}_plural`))),
    ),
  );

  const interval = h("input", { type: "number", class: "input input--short", min: 1, max: 90, step: 1, required: true, value: String(value.default_interval), dataset: { testid: "setting-default_interval" } });
  const unit = select(
    [
      { value: "working_days", label: t("settings.unit.working_days") },
      { value: "days", label: t("settings.unit.days") },
    ],
    { value: value.default_interval_unit, name: "default_interval_unit", dataset: { testid: "setting-default_interval_unit" } },
  );

  const names = weekdayNames("short");
  const days = h(
    "div",
    { class: "day-toggles", role: "group", "aria-label": t("settings.working_days") },
    names.map((name, index) =>
      h("label", { class: "day-toggle" }, checkbox(value.working_days.includes(index + 1), { value: String(index + 1), name: "working_days" }), h("span", {}, name)),
    ),
  );

  let holidays = [...value.holidays].sort();
  const holidayList = h("ul", { class: "chips", "aria-live": "polite" });
  const holidayField = dateField({ testid: "holiday-input", label: t("settings.holiday_date"), className: "input--date" });
  const holidayInput = holidayField.input;
  const renderHolidays = () => {
    replace(
      holidayList,
      holidays.length
        ? holidays.map((day) =>
            h("li", { class: "chip" }, h("span", {}, formatDay(day)), editable ? h("button", { type: "button", class: "chip__remove", "aria-label": t("settings.remove_holiday", { day: formatDay(day) }), on: { click: () => { holidays = holidays.filter((other) => other !== day); renderHolidays(); } } }, icon("close")) : null),
          )
        : h("li", { class: "muted small" }, t("settings.no_holidays")),
    );
  };
  const addHoliday = () => {
    const day = holidayField.read();
    if (day && !holidays.includes(day)) holidays = [...holidays, day].sort();
    holidayField.set(null);
    renderHolidays();
  };
  holidayInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      addHoliday();
    }
  });
  renderHolidays();

  const hour = select(
    Array.from({ length: 24 }, (_, index) => ({ value: index, label: formatHour(index) })),
    { value: value.digest_hour, name: "digest_hour", class: "input input--auto", dataset: { testid: "setting-digest_hour" } },
  );
  const digestDefault = checkbox(value.digest_default, { name: "digest_default", dataset: { testid: "setting-digest_default" } });
  const reminders = h("input", { type: "text", class: "input input--auto", name: "reminder_minutes", inputmode: "numeric", autocomplete: "off", value: (value.reminder_minutes ?? [15]).join(", "), dataset: { testid: "setting-reminder_minutes" } });

  let viewers = [...value.team_viewers];
  const viewerList = h("ul", { class: "chips" });
  const viewerAdd = h("select", { class: "input", "aria-label": t("settings.add_viewer"), dataset: { testid: "viewer-add" } });
  const renderViewers = () => {
    replace(
      viewerList,
      viewers.length
        ? viewers.map((id) => {
            const user = userById(id);
            return h(
              "li",
              { class: "chip chip--person" },
              avatar(user, "xs"),
              h("span", {}, user.name),
              editable ? h("button", { type: "button", class: "chip__remove", "aria-label": t("settings.remove_viewer", { name: user.name }), on: { click: () => { viewers = viewers.filter((other) => other !== id); renderViewers(); } } }, icon("close")) : null,
            );
          })
        : h("li", { class: "muted small" }, t("settings.no_viewers")),
    );
    replace(
      viewerAdd,
      h("option", { value: "" }, t("settings.add_viewer")),
      pickableUsers()
        .filter((user) => !viewers.includes(user.id))
        .map((user) => h("option", { value: String(user.id) }, user.name)),
    );
  };
  viewerAdd.addEventListener("change", () => {
    const id = Number(viewerAdd.value);
    if (id && !viewers.includes(id)) viewers = [...viewers, id];
    renderViewers();
    viewerAdd.focus();
  });
  renderViewers();
  const pickInBitrix = inFrame() && editable
    ? button(t("settings.pick_in_bitrix"), {
        kind: "light",
        size: "sm",
        iconName: "user",
        onClick: async () => {
          const picked = await selectUsers();
          for (const user of picked) {
            const id = Number(user.id);
            if (id > 0 && !viewers.includes(id)) viewers = [...viewers, id];
          }
          renderViewers();
        },
      })
    : null;

  const body = h(
    "fieldset",
    { class: "settings-grid", disabled: !editable },
    h("legend", { class: "visually-hidden" }, t("settings.portal")),
    field({ label: t("settings.time_zone"), control: zone, name: "time_zone", hint: t("settings.time_zone_hint") }),
    field({ label: t("settings.entities"), control: entities, name: "enabled_entities", hint: t("settings.entities_hint") }),
    field({ label: t("settings.interval"), control: h("div", { class: "inline" }, interval, unit), name: "default_interval", hint: t("settings.interval_hint") }),
    field({ label: t("settings.working_days"), control: days, name: "working_days" }),
    field({
      label: t("settings.holidays"),
      control: h("div", { class: "stack" }, holidayList, editable ? h("div", { class: "inline" }, holidayField.node, button(t("settings.add_holiday"), { kind: "light", size: "sm", iconName: "plus", onClick: addHoliday, dataset: { testid: "holiday-add" } })) : null),
      name: "holidays",
    }),
    field({ label: t("settings.digest_hour"), control: hour, name: "digest_hour", hint: t("settings.digest_hour_hint") }),
    field({ label: t("settings.reminders"), control: reminders, name: "reminder_minutes", hint: t("settings.reminders_hint") }),
    field({ label: t("settings.notifications"), control: h("label", { class: "check" }, digestDefault, h("span", {}, t("settings.digest_default"))), name: "digest_default" }),
    field({ label: t("settings.team_viewers"), control: h("div", { class: "stack" }, viewerList, editable ? h("div", { class: "inline" }, viewerAdd, pickInBitrix) : null), name: "team_viewers", hint: t("settings.team_viewers_hint") }),
  );
  interval.setAttribute("aria-label", t("settings.interval"));

  return {
    node: body,
    read() {
      return {
        time_zone: zone.value,
        enabled_entities: [...entities.querySelectorAll("input:checked")].map((input) => input.value),
        default_interval: Number(interval.value),
        default_interval_unit: unit.value,
        working_days: [...days.querySelectorAll("input:checked")].map((input) => Number(input.value)),
        holidays,
        digest_hour: Number(hour.value),
        team_viewers: viewers,
        digest_default: digestDefault.checked,
        reminder_minutes: reminders.value.split(/[\s,;]+/).filter(Boolean).map(Number),
      };
    },
  };
}

function localCheck(body) {
  const problems = {};
  if (!Number.isInteger(body.default_interval) || body.default_interval < 1 || body.default_interval > 90) problems.default_interval = t("settings.interval_range");
  if (!body.enabled_entities.length) problems.enabled_entities = t("settings.entities_required");
  if (!body.working_days.length) problems.working_days = t("settings.days_required");
  return problems;
}

export function mountSettings(root, { onSaved } = {}) {
  const view = h("div", { class: "settings-view", dataset: { testid: "settings-view" } });
  replace(root, view, h("div", { class: "boot" }, h("span", { class: "spinner", "aria-hidden": "true" })));

  async function load() {
    try {
      const [settings, preferences] = await Promise.all([api("GET", "/settings"), api("GET", "/me/preferences")]);
      app.settings = settings;
      render(settings, preferences);
    } catch (error) {
      replace(root, view);
      replace(view, h("div", { class: "empty-state", role: "alert" }, h("p", {}, t("settings.failed")), h("p", { class: "muted" }, errorText(error)), button(t("action.retry"), { kind: "primary", onClick: load })));
    }
  }

  function render(settings, preferences) {
    replace(root, view);
    const admin = isAdmin();
    const form = portalForm(settings, { editable: admin });
    const save = button(t("settings.save"), { kind: "primary", type: "submit", dataset: { testid: "settings-save" } });
    const discard = button(t("settings.discard"), { kind: "light", dataset: { testid: "settings-discard" }, onClick: () => render(app.settings, preferences) });
    const unsavedNote = h("span", { class: "save-bar__note", role: "status", dataset: { testid: "settings-unsaved" } });
    // The save bar sticks to the bottom of the view, so Save is always in reach.
    const saveBar = h("div", { class: "panel__actions save-bar", dataset: { testid: "settings-save-bar" } }, unsavedNote, h("span", { class: "spacer" }), discard, save);
    const portalPanel = panel(
      { id: "settings-portal", title: t("settings.portal"), tag: "form", noValidate: true, dataset: { testid: "settings-form" } },
      admin ? null : h("p", { class: "notice", dataset: { testid: "settings-readonly" } }, icon("lock"), h("span", {}, t("settings.admins_only"))),
      form.node,
      admin ? saveBar : null,
    );
    const saved = JSON.stringify(form.read());
    const dirty = () => admin && view.isConnected && JSON.stringify(form.read()) !== saved;
    const syncDirty = () => {
      const changed = dirty();
      saveBar.classList.toggle("is-dirty", changed);
      unsavedNote.textContent = changed ? t("settings.unsaved") : "";
      discard.hidden = !changed;
    };
    // Chips are added and removed by clicks, fields by typing: look after each of them.
    for (const type of ["input", "change", "click"]) portalPanel.addEventListener(type, () => queueMicrotask(syncDirty));
    app.unsaved = dirty;
    syncDirty();
    portalPanel.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = form.read();
      const problems = localCheck(body);
      showFieldErrors(portalPanel, problems);
      if (Object.keys(problems).length) return;
      save.disabled = true;
      try {
        app.settings = await api("PUT", "/settings", body);
        toast(t("settings.saved"), { kind: "success" });
        render(app.settings, preferences);
        onSaved?.(app.settings);
      } catch (error) {
        showFieldErrors(portalPanel, error.fields || {});
        toast(`${t("settings.save_failed")} ${errorText(error)}`, { kind: "error" });
      } finally {
        save.disabled = false;
      }
    });

    const digest = checkbox(preferences.digest_enabled, { dataset: { testid: "pref-digest" } });
    const rollup = checkbox(preferences.rollup_enabled !== false, { dataset: { testid: "pref-rollup" } });
    const savePrefs = button(t("settings.save_prefs"), { kind: "primary", type: "submit", dataset: { testid: "prefs-save" } });
    const prefsPanel = panel(
      { id: "settings-mine", title: t("settings.mine"), tag: "form" },
      h("label", { class: "check" }, digest, h("span", {}, t("settings.digest_mine", { hour: formatHour(settings.digest_hour), zone: settings.time_zone }))),
      app.me?.sees_team ? h("label", { class: "check" }, rollup, h("span", {}, t("settings.rollup_mine"))) : null,
      h("p", { class: "field__hint", dataset: { testid: "digest-channel" } }, t(app.me?.portal.digest_channel === "bot" ? "settings.digest_channel_bot" : "settings.digest_channel_notification")),
      h("div", { class: "panel__actions" }, savePrefs),
    );
    prefsPanel.addEventListener("submit", async (event) => {
      event.preventDefault();
      savePrefs.disabled = true;
      try {
        const body = app.me?.sees_team ? { digest_enabled: digest.checked, rollup_enabled: rollup.checked } : { digest_enabled: digest.checked };
        const saved = await api("PUT", "/me/preferences", body);
        digest.checked = saved.digest_enabled;
        rollup.checked = saved.rollup_enabled !== false;
        toast(t("settings.prefs_saved"), { kind: "success" });
      } catch (error) {
        toast(`${t("settings.save_failed")} ${errorText(error)}`, { kind: "error" });
      } finally {
        savePrefs.disabled = false;
      }
    });

    replace(
      view,
      h("div", { class: "toolbar" }, h("div", { class: "toolbar__title" }, h("h1", { class: "page-title" }, t("settings.title")))),
      h("div", { class: "settings-layout" }, h("div", { class: "settings-main" }, portalPanel), h("div", { class: "settings-side" }, prefsPanel, admin ? dataPanel() : null, aboutPanel())),
    );
  }

  load();
}

function dataPanel() {
  return panel(
    { id: "settings-data", title: t("data.title") },
    h("p", { class: "muted small" }, t("data.export_hint")),
    button(t("data.export"), { kind: "light", iconName: "download", dataset: { testid: "export" }, onClick: exportData }),
    h("hr", { class: "divider" }),
    h("p", { class: "muted small" }, t("data.delete_hint")),
    button(t("data.delete"), { kind: "danger", iconName: "trash", dataset: { testid: "delete-all" }, onClick: confirmDelete }),
  );
}

function aboutPanel() {
  return panel(
    { id: "settings-about", title: t("about.title") },
    h("p", { class: "small" }, t("about.text")),
    h("a", { class: "link", href: "/privacy", target: "_blank", rel: "noopener" }, t("about.privacy")),
  );
}

async function exportData() {
  try {
    const { blob, filename } = await apiDownload("/portal/export");
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: filename || `touchpoints-export-${new Date().toISOString().slice(0, 10)}.json`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(t("data.exported"), { kind: "success" });
  } catch (error) {
    toast(`${t("data.export_failed")} ${errorText(error)}`, { kind: "error" });
  }
}

function confirmDelete() {
  const domain = app.me?.portal.domain || "";
  const typed = h("input", { type: "text", class: "input", autocomplete: "off", spellcheck: false, dataset: { testid: "delete-confirm-input" } });
  const erase = button(t("data.delete_confirm"), { kind: "danger", type: "submit", disabled: true, dataset: { testid: "delete-confirm" } });
  const formId = nextId("erase");
  erase.setAttribute("form", formId);
  typed.addEventListener("input", () => {
    erase.disabled = typed.value.trim().toLowerCase() !== domain.toLowerCase();
  });
  const form = h(
    "form",
    { id: formId, class: "form" },
    h("p", {}, t("data.delete_intro")),
    h("ul", { class: "bullets" }, ["data.what_touchpoints", "data.what_settings", "data.what_preferences", "data.what_feedback", "data.what_tokens"].map((key) => h("li", {}, t(key)))),
    h("p", { class: "muted small" }, t("data.what_stays")),
    field({ label: t("data.type_domain", { domain }), control: typed }),
  );
  const handle = openDialog({
    title: t("data.delete_title"),
    size: "sm",
    body: form,
    footer: [button(t("action.back"), { onClick: () => handle.close() }), erase],
  });
  typed.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (erase.disabled) return;
    handle.setBusy(true);
    try {
      await api("DELETE", "/portal/data");
      handle.close();
      const root = document.getElementById("app");
      replace(root, h("div", { class: "empty-state empty-state--page", role: "status", dataset: { testid: "erased" } }, icon("trash", "empty-state__icon"), h("h1", { class: "page-title" }, t("data.deleted_title")), h("p", {}, t("data.deleted_text"))));
    } catch (error) {
      handle.setBusy(false);
      toast(`${t("data.delete_failed")} ${errorText(error)}`, { kind: "error" });
    }
  });
}
