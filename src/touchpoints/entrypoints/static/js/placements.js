// The CRM menus (DESIGN.md §3.7): a to-do's timeline menu (complete or reschedule one of ours,
// or track a to-do made in Bitrix24 as a touch-point) and a list row's menu (schedule a
// touch-point for that record). The server has already checked the launch's options.

import { api } from "./api.js";
import { closeSlider, inFrame, reloadCard } from "./bx.js";
import { cardView, onCardClicks, ownerTypeLabel, typeLabel } from "./cards.js";
import { openCompleteDialog, openCreateDialog, openDetailsDialog, openRescheduleDialog } from "./dialogs.js";
import { h, replace } from "./dom.js";
import { t, tn } from "./i18n.js";
import { TYPES, app, errorText, ownerTitle } from "./state.js";
import { button, field, select, toast } from "./ui.js";

const TIMELINE = /^CRM_(LEAD|DEAL|DYNAMIC_[1-9]\d{2,9})_ACTIVITY_TIMELINE_MENU$/;
const LIST = /^CRM_(LEAD|DEAL|CONTACT|COMPANY|DYNAMIC_[1-9]\d{2,9})_LIST_MENU$/;

function positive(raw) {
  const value = Number.parseInt(raw ?? "", 10);
  return Number.isFinite(value) && value > 0 ? value : null;
}

/** The menu a placement opened, or null: {kind: "timeline", owner, activityId} | {kind: "list", owner}. */
export function menuFromPlacement(placement, options) {
  const id = positive(options?.ID);
  const timeline = TIMELINE.exec(placement || "");
  if (timeline) {
    const activityId = positive(options?.ACTIVITY_ID);
    return id && activityId ? { kind: "timeline", owner: { type: timeline[1].toLowerCase(), id }, activityId } : null;
  }
  const list = LIST.exec(placement || "");
  return list && id ? { kind: "list", owner: { type: list[1].toLowerCase(), id } } : null;
}

/** A link into the app from the digest (REST_APP_URI): {complete: id} | {responsibleId: id} | null. */
export function linkFromPlacement(placement, options) {
  if (placement !== "REST_APP_URI") return null;
  const complete = positive(options?.complete);
  if (complete) return { complete };
  const responsibleId = positive(options?.responsible_id);
  return responsibleId ? { responsibleId } : null;
}

/** The board a rep link opens: filtered to that rep for those who see the team (the board
 * itself drops the filter for everyone else, who see their own). */
export function linkFilters(link) {
  return link?.responsibleId ? { responsible_id: String(link.responsibleId) } : null;
}

/** A "Done…" link: the complete dialog of that touch-point over the board, when the user may
 * see it and it is still open; otherwise a clear message. */
export async function openLinkedComplete(link, { onDone }) {
  let touchPoint;
  try {
    touchPoint = await api("GET", `/touchpoints/${link.complete}`);
  } catch (error) {
    const hidden = error?.status === 404 || error?.status === 403;
    toast(hidden ? t("link.not_visible") : errorText(error), { kind: "error" });
    return;
  }
  if (touchPoint.status !== "open") {
    toast(t("link.finished"), { kind: "info" });
    return;
  }
  openCompleteDialog(touchPoint, { onDone });
}

export function mountMenu(root, menu) {
  return menu.kind === "timeline" ? mountTimelineMenu(root, menu) : mountListMenu(root, menu);
}

function loading(view) {
  replace(view, h("div", { class: "boot" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { class: "visually-hidden" }, t("board.loading"))));
}

function failure(view, message, error, retry) {
  replace(
    view,
    h(
      "div",
      { class: "empty-state", role: "alert" },
      h("p", {}, message),
      error ? h("p", { class: "muted" }, errorText(error)) : null,
      retry ? button(t("action.retry"), { kind: "primary", onClick: retry }) : null,
    ),
  );
}

function heading(text, owner) {
  return h(
    "div",
    { class: "toolbar" },
    h("div", { class: "toolbar__title" }, h("h1", { class: "page-title" }, text), owner ? h("span", { class: "chip" }, ownerTypeLabel(owner.type)) : null),
  );
}

function mountTimelineMenu(root, { activityId }) {
  const view = h("div", { class: "record-view", dataset: { testid: "timeline-menu" } });
  replace(root, view);

  const changed = () => {
    reloadCard(app.placement);
    load();
  };

  async function load() {
    try {
      show(await api("GET", `/activities/${activityId}`));
    } catch (error) {
      failure(view, t("placement.activity_failed"), error, load);
    }
  }

  function show(answer) {
    if (answer.touch_point) ours(answer.touch_point);
    else if (answer.trackable) offerTracking(answer.subject);
    else failure(view, t("placement.not_trackable"), { message: answer.reason, status: 409 });
  }

  function ours(touchPoint) {
    const open = touchPoint.status === "open";
    const complete = () => openCompleteDialog(touchPoint, { onDone: changed });
    const reschedule = () => openRescheduleDialog(touchPoint, { onDone: changed });
    const details = () => openDetailsDialog(touchPoint, { onComplete: complete, onChanged: changed });
    const thisTodo = h("section", { class: "panel", "aria-label": t("placement.this_todo") }, h("div", { class: "record-list", role: "list" }, cardView(touchPoint, { inRecord: true })));
    onCardClicks(thisTodo, () => touchPoint, { onOpen: details });
    replace(
      view,
      heading(ownerTitle(touchPoint.owner), touchPoint.owner),
      thisTodo,
      open
        ? h(
            "div",
            { class: "row" },
            button(t("placement.complete"), { kind: "success", iconName: "check", dataset: { testid: "timeline-complete" }, onClick: complete }),
            button(t("placement.reschedule"), { kind: "light", iconName: "calendar", dataset: { testid: "timeline-reschedule" }, onClick: reschedule }),
          )
        : h("p", { class: "muted", dataset: { testid: "timeline-finished" } }, t("placement.finished")),
    );
  }

  function offerTracking(subject) {
    const type = select(
      TYPES.map((code) => ({ value: code, label: typeLabel(code) })),
      { value: "other", name: "type" },
    );
    const track = button(t("placement.track"), { kind: "primary", iconName: "plus", dataset: { testid: "timeline-track" } });
    track.addEventListener("click", async () => {
      track.disabled = true;
      try {
        await api("POST", `/activities/${activityId}/track`, { type: type.value });
        changed();
      } catch (error) {
        track.disabled = false;
        failure(view, t("placement.track_failed"), error, load);
      }
    });
    replace(
      view,
      heading(t("placement.track_title")),
      h("section", { class: "panel" }, subject ? h("p", { class: "details__subject", dataset: { testid: "timeline-subject" } }, subject) : null, h("p", {}, t("placement.track_hint")), field({ label: t("field.type"), control: type, name: "type" }), h("div", { class: "row" }, track)),
    );
  }

  loading(view);
  load();
}

function mountListMenu(root, { owner }) {
  const view = h("div", { class: "record-view", dataset: { testid: "list-menu" } });
  replace(root, view);

  function scheduled(created) {
    reloadCard(app.placement);
    replace(
      view,
      heading(ownerTitle(created.owner), created.owner),
      h("section", { class: "panel" }, h("p", { dataset: { testid: "list-menu-done" } }, t("placement.scheduled")), h("div", { class: "record-list", role: "list" }, cardView(created, { inRecord: true }))),
      h("div", { class: "row" }, button(t("placement.another"), { kind: "light", iconName: "plus", onClick: () => schedule(created.owner) }), inFrame() ? button(t("action.close"), { kind: "primary", onClick: closeSlider }) : null),
    );
  }

  function schedule(record) {
    openCreateDialog({ owner: record, onDone: scheduled });
  }

  async function load() {
    try {
      const data = await api("GET", `/records/${owner.type}/${owner.id}/touchpoints`);
      const record = { ...owner, title: data.owner?.title ?? null };
      const open = data.items.filter((item) => item.status === "open").length;
      replace(
        view,
        heading(ownerTitle(record), record),
        h("section", { class: "panel" }, h("p", { class: "muted" }, tn("placement.open_count", open)), h("div", { class: "row" }, button(t("placement.schedule"), { kind: "success", iconName: "plus", dataset: { testid: "list-menu-schedule" }, onClick: () => schedule(record) }))),
      );
      schedule(record);
    } catch (error) {
      failure(view, t("record.failed"), error, load);
    }
  }

  loading(view);
  load();
}
