// Hand-over with return (issue 16): "Hand over Maxim's open touch-points from 14 to 18 Dec to
// Lena" (POST /handovers), the open ones with "End now" (GET, DELETE /handovers/{id}), and the
// banner both people's boards show while one is active.

import { api } from "./api.js";
import { userSelect } from "./dialogs.js";
import { h, nextId } from "./dom.js";
import { formatDay, t, tn } from "./i18n.js";
import { app, errorText, myId, seesTeam, userById } from "./state.js";
import { announce, button, dateField, openDialog, showFieldErrors, toast } from "./ui.js";

/** The open hand-overs the caller may see; an empty list when the server cannot say. */
export async function loadHandovers() {
  try {
    return (await api("GET", "/handovers")).items || [];
  } catch {
    return [];
  }
}

/** Whether ``handover`` covers the local day ``today`` (its period, both days included). */
function activeOn(handover, today) {
  return !handover.returned_at && handover.first_day <= today && today <= handover.last_day;
}

/**
 * Banners for the hand-overs active ``today`` that concern the person whose board this is
 * (``personId``: the filtered responsible, else the viewer), as giver or taker.
 */
export function handoverBanners(handovers, today, personId = myId()) {
  const shown = handovers.filter((item) => activeOn(item, today) && (item.from_user_id === personId || item.to_user_id === personId));
  if (!shown.length) return null;
  return h(
    "div",
    { class: "handover-banners", role: "status" },
    shown.map((item) =>
      h(
        "p",
        { class: "handover-banner", dataset: { testid: "handover-banner", id: String(item.id) } },
        t("handover.banner", { to: userById(item.to_user_id).name, from: userById(item.from_user_id).name, until: formatDay(item.last_day, { year: false }) }),
      ),
    ),
  );
}

function period(item) {
  return t("handover.period", { first: formatDay(item.first_day, { weekday: null, year: false }), last: formatDay(item.last_day, { year: false }) });
}

function handoverRow(item, today, onEnd) {
  const state = activeOn(item, today) ? "active" : "planned";
  return h(
    "li",
    { class: "handover-list__item", dataset: { testid: "handover-item", id: String(item.id) } },
    h(
      "div",
      { class: "handover-list__text" },
      h("strong", {}, t("handover.who", { from: userById(item.from_user_id).name, to: userById(item.to_user_id).name })),
      h("span", { class: "muted small" }, `${period(item)} · ${tn("handover.count", item.touch_point_ids.length)}`),
    ),
    h("span", { class: ["status", `status--handover-${state}`] }, t(`handover.${state}`)),
    button(t("handover.end"), { kind: "light", size: "sm", dataset: { testid: "handover-end" }, onClick: () => onEnd(item) }),
  );
}

/**
 * The hand-over dialog: the open hand-overs (ending one gives back what is still open) and
 * the sentence that starts a new one. A colleague's touch-points are handed over only by
 * admins and team viewers; everyone may hand over their own. ``onChanged`` reloads the view.
 */
export function openHandoversDialog({ today, onChanged } = {}) {
  const day = today || app.presets?.today;
  const list = h("ul", { class: "handover-list", dataset: { testid: "handover-list" } });
  const from = seesTeam() ? userSelect(myId(), { name: "from_user_id" }) : null;
  if (from) from.dataset.testid = "handover-from";
  const first = dateField({ value: day || null, testid: "handover-first", label: t("handover.first_day") });
  const last = dateField({ testid: "handover-last", label: t("handover.last_day") });
  const to = userSelect(null, { name: "to_user_id", placeholder: true });
  to.dataset.testid = "handover-to";
  const submit = button(t("handover.start"), { kind: "primary", type: "submit", dataset: { testid: "handover-submit" } });
  // Each blank of the sentence is a field with its own label (read out, not shown) and error.
  const part = (name, label, node, control = node) => {
    if (!control.id) control.id = nextId("handover");
    const error = h("span", { class: "field__error", id: `${control.id}-error`, hidden: true, dataset: { errorFor: name } });
    control.setAttribute("aria-describedby", error.id);
    return h("span", { class: "handover-sentence__part" }, h("label", { class: "visually-hidden", htmlFor: control.id }, label), node, error);
  };
  const form = h(
    "form",
    { class: "form handover-sentence", noValidate: true, id: `handover-${Date.now()}` },
    h("span", {}, t("handover.sentence_start")),
    from ? part("from_user_id", t("handover.from"), from) : h("strong", {}, t("handover.my")),
    h("span", {}, t("handover.sentence_from")),
    part("first_day", t("handover.first_day"), first.node, first.input),
    h("span", {}, t("handover.sentence_to_day")),
    part("last_day", t("handover.last_day"), last.node, last.input),
    h("span", {}, t("handover.sentence_to_person")),
    part("to_user_id", t("handover.to"), to),
  );
  submit.setAttribute("form", form.id);
  const body = h("div", { class: "handovers" }, form, h("p", { class: "muted small" }, t("handover.hint")), h("h3", { class: "section-title" }, t("handover.open")), list);
  const handle = openDialog({ title: t("handover.dialog_title"), body, size: "lg", className: "dialog--handovers", footer: [button(t("action.close"), { onClick: () => handle.close() }), submit] });

  async function refresh() {
    const items = await loadHandovers();
    list.replaceChildren(...(items.length ? items.map((item) => handoverRow(item, day, end)) : [h("li", { class: "muted", dataset: { testid: "handover-none" } }, t("handover.none"))]));
  }

  async function end(item) {
    try {
      const answer = await api("DELETE", `/handovers/${item.id}`);
      const said = tn("handover.returned", answer.done.length, { from: userById(item.from_user_id).name });
      toast(said, { kind: "success" });
      announce(said);
    } catch (error) {
      toast(`${t("handover.failed")} ${errorText(error)}`, { kind: "error" });
    }
    await refresh();
    onChanged?.();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldErrors(form, {});
    const payload = { from_user_id: Number(from ? from.value : myId()), to_user_id: Number(to.value), first_day: first.read(), last_day: last.read() };
    const problems = {};
    if (!payload.first_day) problems.first_day = t("handover.day_needed");
    if (!payload.last_day) problems.last_day = t("handover.day_needed");
    if (!payload.to_user_id) problems.to_user_id = t("handover.person_needed");
    else if (payload.to_user_id === payload.from_user_id) problems.to_user_id = t("handover.same_person");
    if (Object.keys(problems).length) {
      showFieldErrors(form, problems);
      return;
    }
    handle.setBusy(true);
    try {
      const answer = await api("POST", "/handovers", payload);
      let said = tn("handover.done", answer.done.length, { to: userById(payload.to_user_id).name });
      if (answer.failed.length) said += ` ${tn("handover.some_failed", answer.failed.length)}`;
      toast(said, { kind: answer.failed.length ? "info" : "success" });
      announce(said);
      onChanged?.();
    } catch (error) {
      showFieldErrors(form, error.fields || {});
      toast(`${t("handover.failed")} ${errorText(error)}`, { kind: "error" });
    }
    handle.setBusy(false);
    await refresh();
  });
  refresh();
  return handle;
}
