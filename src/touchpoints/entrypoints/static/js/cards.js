// A touch-point card, as the board and the CRM card tab show it.

import { avatar, h, icon } from "./dom.js";
import { formatDateTime, formatRelative, formatShortWhen, t } from "./i18n.js";
import { ownerTitle, portalZone, smartProcessTitle, userById } from "./state.js";
import { parseInstant } from "./zone.js";

export function typeLabel(type) {
  return t(`type.${type}`);
}

export function ownerTypeLabel(type) {
  if (String(type).startsWith("dynamic_")) return smartProcessTitle(type) || t("owner.smart_process");
  return t(`owner.${type}`);
}

/** The type icon in its coloured round badge. */
export function typeBadge(type, size = "md") {
  return h("span", { class: ["type-badge", `type-badge--${type}`, `type-badge--${size}`], title: typeLabel(type) }, icon(type));
}

export function deadlineMs(touchPoint) {
  return parseInstant(touchPoint.deadline);
}

/** "in 3 hours" and "Tue, 14 Oct, 10:00" (portal zone), as a <time> element. */
function deadlineView(touchPoint, { now = Date.now(), overdue, exact = null } = {}) {
  const ms = deadlineMs(touchPoint);
  const zone = portalZone();
  const late = overdue ?? (touchPoint.status === "open" && ms < now);
  return h(
    "span",
    { class: ["when", late && "when--overdue"] },
    icon("clock"),
    h("span", { class: "when__relative" }, formatRelative(ms, now)),
    h("time", { class: "when__exact", dateTime: touchPoint.deadline, title: t("card.zone", { zone }) }, exact ?? formatDateTime(ms, zone)),
  );
}

/** The responsible user's avatar and name. */
export function personView(userId, { compact = false } = {}) {
  const user = userById(userId);
  return h("span", { class: ["person", compact && "person--compact"] }, avatar(user, "sm"), h("span", { class: "person__name" }, user.name));
}

/** The record line: title (or "hidden record") and its kind. */
export function ownerView(owner) {
  const hidden = owner?.title === null || owner?.title === undefined;
  return h(
    "span",
    { class: ["owner", hidden && "owner--hidden"], title: hidden ? t("record.hidden_hint") : null },
    hidden ? icon("lock") : null,
    h("span", { class: "owner__title", title: hidden ? null : owner.title }, ownerTitle(owner)),
  );
}

/** What the to-do is about: its subject and a one-line preview of its note (both from the CRM). */
export function subjectView(touchPoint, { lines = 1 } = {}) {
  const subject = touchPoint.title?.trim();
  const note = touchPoint.note?.trim();
  if (!subject && !note) return null;
  return h(
    "div",
    { class: ["card__subject", lines > 1 && "card__subject--full"], dataset: { testid: "card-subject" } },
    subject ? h("strong", { class: "card__subject-title", title: subject }, subject) : null,
    note ? h("span", { class: "card__note", title: note, dataset: { testid: "card-note" } }, note) : null,
  );
}

/**
 * A card for one open touch-point. ``menu``, ``complete`` and ``select`` add those controls;
 * what they (and a click on the card) do is wired once per list with ``onCardClicks``. The
 * card itself is focusable and carries data-id for the board's drag and keyboard code.
 */
export function cardView(touchPoint, { menu = false, complete = false, select = false, selected = false, draggable = false, now, overdue, inRecord = false, compact = false } = {}) {
  const title = ownerTitle(touchPoint.owner);
  const exact = formatDateTime(deadlineMs(touchPoint), portalZone());
  const controls = {
    select: select ? h("input", { type: "checkbox", class: "card__select", checked: selected, "aria-label": t("card.select", { title }), dataset: { testid: "card-select" } }) : null,
    menu: menu ? h("button", { type: "button", class: "card__menu", "aria-label": t("card.actions", { title }), "aria-haspopup": "menu", "aria-expanded": "false" }, icon("more")) : null,
  };
  const card = h(
    "article",
    {
      class: ["card", `card--${touchPoint.type}`, draggable && "card--draggable", selected && "is-selected", compact && "card--compact"],
      tabIndex: 0,
      role: "listitem",
      dataset: { id: String(touchPoint.id), testid: "card" },
      "aria-keyshortcuts": draggable ? "Enter Shift+ArrowRight Shift+ArrowLeft M C" : null,
      "aria-label": t("card.label", {
        type: typeLabel(touchPoint.type),
        title: touchPoint.title ? `${title}, ${touchPoint.title}` : title,
        when: exact,
        who: userById(touchPoint.responsible_id).name,
      }),
    },
    compact ? compactLine(touchPoint, { controls, exact, now, overdue }) : fullCard(touchPoint, { controls, exact, now, overdue, inRecord, select, complete, title }),
  );
  return card;
}

/** A full card's parts: head (record or type, menu), kinds, subject, deadline, person, complete. */
function fullCard(touchPoint, { controls, exact, now, overdue, inRecord, select, complete, title }) {
  return [
    h(
      "div",
      { class: "card__head" },
      // On the record's own tab the record is known: the type is the headline instead.
      inRecord
        ? h("div", { class: "card__titles card__titles--type" }, typeBadge(touchPoint.type), h("span", { class: "owner" }, typeLabel(touchPoint.type)), touchPoint.previous_id ? h("span", { class: "chain-mark", title: t("card.follows"), dataset: { testid: "chain-mark" } }, icon("chain")) : null)
        : h(
            "div",
            { class: ["card__titles", select && "card__titles--select"] },
            controls.select,
            ownerView(touchPoint.owner),
          ),
      controls.menu,
    ),
    inRecord
      ? null
      : h(
      "div",
      { class: "card__meta" },
      typeBadge(touchPoint.type, "sm"),
      h("span", { class: "card__owner-type" }, ownerTypeLabel(touchPoint.owner.type)),
      h("span", { class: "dot", "aria-hidden": "true" }, "·"),
      h("span", {}, typeLabel(touchPoint.type)),
      touchPoint.previous_id
        ? h("span", { class: "chain-mark", title: t("card.follows"), dataset: { testid: "chain-mark" } }, icon("chain"), h("span", { class: "visually-hidden" }, t("card.follows")))
        : null,
    ),
    subjectView(touchPoint),
    h("div", { class: "card__when" }, deadlineView(touchPoint, { now, overdue, exact })),
    h(
      "div",
      { class: "card__foot" },
      personView(touchPoint.responsible_id),
      complete
        ? h(
            "button",
            {
              type: "button",
              class: "card__complete",
              title: t("card.complete", { title }),
              "aria-label": t("card.complete", { title }),
              dataset: { testid: "card-complete" },
            },
            icon("check"),
            h("span", { class: "card__complete-label" }, t("action.complete")),
          )
        : null,
    ),
  ];
}

/** A compact card's only line: checkbox, type, record, deadline, menu. */
function compactLine(touchPoint, { controls, exact, now = Date.now(), overdue }) {
  const ms = deadlineMs(touchPoint);
  const late = overdue ?? (touchPoint.status === "open" && ms < now);
  return h(
    "div",
    { class: "card__line" },
    controls.select,
    typeBadge(touchPoint.type, "sm"),
    h("span", { class: "visually-hidden", dataset: { testid: "card-type" } }, typeLabel(touchPoint.type)),
    ownerView(touchPoint.owner),
    h("time", { class: ["card__time", late && "when--overdue"], dateTime: touchPoint.deadline, title: exact, dataset: { testid: "card-time" } }, formatShortWhen(ms, portalZone(), now)),
    controls.menu,
  );
}

/**
 * One click listener for every card inside ``container``: a click on a card's checkbox, menu
 * or complete button calls that handler, a click elsewhere on the card opens it. ``find``
 * gives the touch-point of a card's id (the list's current data, never a stale copy).
 */
export function onCardClicks(container, find, { onOpen, onMenu, onComplete, onSelect } = {}) {
  container.addEventListener("click", (event) => {
    const card = event.target.closest(".card");
    if (!card || !container.contains(card)) return;
    const touchPoint = find(Number(card.dataset.id));
    if (!touchPoint) return;
    const control = event.target.closest("button, a, input, label");
    if (!control) onOpen?.(touchPoint);
    else if (control.classList.contains("card__select")) onSelect?.(touchPoint, event);
    else if (control.classList.contains("card__menu")) onMenu?.(touchPoint, control);
    else if (control.classList.contains("card__complete")) onComplete?.(touchPoint);
  });
}
