// The CRM card tab (CRM_*_DETAIL_TAB): one record's open touch-points and their history,
// with create and complete in place.

import { api } from "./api.js";
import { reloadCard } from "./bx.js";
import { cardView, deadlineMs, onCardClicks, ownerTypeLabel } from "./cards.js";
import { openCompleteDialog, openCreateDialog, openDetails, timelineView } from "./dialogs.js";
import { h, replace } from "./dom.js";
import { formatNumber, t } from "./i18n.js";
import { app, errorText, ownerTitle } from "./state.js";
import { button, panel } from "./ui.js";

const PLACEMENT_OWNER = /^CRM_(LEAD|DEAL|CONTACT|COMPANY|DYNAMIC_[1-9]\d{2,9})_DETAIL_TAB$/;

/** The record a CRM tab placement is about, or null (PLACEMENT_OPTIONS.ID is a string). */
export function ownerFromPlacement(placement, options) {
  const match = PLACEMENT_OWNER.exec(placement || "");
  const id = Number.parseInt(options?.ID ?? options?.id ?? "", 10);
  if (!match || !Number.isFinite(id) || id <= 0) return null;
  return { type: match[1].toLowerCase(), id };
}

export function mountRecord(root, owner) {
  const view = h("div", { class: "record-view", dataset: { testid: "record-view" } });
  replace(root, view);
  let data = null;
  let handlers = {};
  onCardClicks(view, (id) => data?.items.find((item) => item.id === id), {
    onOpen: (touchPoint) => handlers.details(touchPoint),
    onComplete: (touchPoint) => handlers.complete(touchPoint),
  });

  async function load() {
    try {
      data = await api("GET", `/records/${owner.type}/${owner.id}/touchpoints`);
      render();
    } catch (error) {
      replace(view, h("div", { class: "empty-state", role: "alert" }, h("p", {}, t("record.failed")), h("p", { class: "muted" }, errorText(error)), button(t("action.retry"), { kind: "primary", onClick: load })));
    }
  }

  function render() {
    const record = { ...owner, title: data.owner?.title ?? null };
    // What is due comes first, the most overdue on top; the history reads oldest first.
    const open = data.items.filter((item) => item.status === "open").sort((a, b) => deadlineMs(a) - deadlineMs(b) || a.id - b.id);
    const history = data.items.filter((item) => item.status !== "open").sort((a, b) => deadlineMs(a) - deadlineMs(b) || a.id - b.id);
    // The card's own timeline shows the to-dos too: ask it to reload after each change.
    const changed = () => {
      reloadCard(app.placement);
      return load();
    };
    const complete = (touchPoint) => openCompleteDialog(touchPoint, { onDone: changed });
    const details = (touchPoint) => openDetails(touchPoint, { onComplete: complete, onChanged: changed });
    handlers = { complete, details };
    replace(
      view,
      h(
        "div",
        { class: "toolbar" },
        h("div", { class: "toolbar__title" }, h("h1", { class: "page-title" }, ownerTitle(record)), h("span", { class: "chip" }, ownerTypeLabel(owner.type))),
        h("span", { class: "spacer" }),
        button(t("board.new"), { kind: "success", iconName: "plus", dataset: { testid: "new-tp" }, onClick: () => openCreateDialog({ owner: record, onDone: changed }) }),
      ),
      panel(
        { id: "record-open", title: [t("record.open"), h("span", { class: "counter" }, formatNumber(open.length))] },
        open.length
          ? h("div", { class: "record-list", role: "list" }, open.map((item) => cardView(item, { complete: true, inRecord: true })))
          : h("p", { class: "muted" }, t("record.none_open")),
      ),
      panel(
        { id: "record-history", title: t("record.history") },
        history.length ? timelineView(history, null) : h("p", { class: "muted" }, t("record.no_history")),
      ),
    );
  }

  replace(view, h("div", { class: "boot" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { class: "visually-hidden" }, t("board.loading"))));
  load();
  return { reload: load };
}
