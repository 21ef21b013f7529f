// The board: due-date columns, a people bar for team viewers, filters, drag and drop with
// keyboard and menu alternatives, optimistic moves that roll back when the server refuses.

import { api, query } from "./api.js";
import { askDay, bulkBar, openSweepMenu, presetItems } from "./bulk.js";
import { cardView, deadlineMs, onCardClicks, ownerTypeLabel, personView, subjectView, typeLabel } from "./cards.js";
import { openCompleteDialog, openCreateDialog, openDetails as openDetailsView, openHandOverDialog } from "./dialogs.js";
import { handoverBanners, loadHandovers, openHandoversDialog } from "./handovers.js";
import { avatar, debounce, h, icon, reconcile, replace } from "./dom.js";
import { formatDateTime, formatDay, formatMoney, formatNumber, t, tn } from "./i18n.js";
import { COLUMNS, TYPES, app, errorText, loadPresets, myId, ownerKinds, ownerTitle, pickableUsers, portalZone, seesTeam, userById } from "./state.js";
import { announce, button, dateField, menuIsOpen, openDialog, openMenu, toast } from "./ui.js";
import { patchWithUndo, undoToast } from "./undo.js";
import { addDays, localDate, parseInstant } from "./zone.js";

const DRAG_THRESHOLD = 6;

/** Filters live in localStorage per portal and user (preferences, never tokens). */
function filterKey() {
  return `touchpoints.filters.v1.${app.me?.portal.domain || "portal"}.${myId()}`;
}

function loadFilters() {
  const empty = { responsible_id: "", owner_type: "", type: "" };
  try {
    const saved = JSON.parse(localStorage.getItem(filterKey()) || "{}");
    const filters = { ...empty, ...saved, ...app.launchFilters };
    if (!seesTeam()) filters.responsible_id = "";
    if (filters.owner_type && !ownerKinds().includes(filters.owner_type)) filters.owner_type = "";
    if (filters.type && !TYPES.includes(filters.type)) filters.type = "";
    return filters;
  } catch {
    return empty;
  }
}

function modeKey() {
  return `touchpoints.view.v1.${app.me?.portal.domain || "portal"}.${myId()}`;
}

function loadMode() {
  try {
    return localStorage.getItem(modeKey()) === "list" ? "list" : "board";
  } catch {
    return "board";
  }
}

function saveMode(mode) {
  try {
    localStorage.setItem(modeKey(), mode);
  } catch {
    // As for filters: the choice then lasts for the visit.
  }
}

function compactKey() {
  return `touchpoints.compact.v1.${app.me?.portal.domain || "portal"}.${myId()}`;
}

function loadCompact() {
  try {
    return localStorage.getItem(compactKey()) === "1";
  } catch {
    return false;
  }
}

function saveCompact(compact) {
  try {
    localStorage.setItem(compactKey(), compact ? "1" : "0");
  } catch {
    // As for filters: the choice then lasts for the visit.
  }
}

/** Pages the list view asks for at once; a search may answer short pages with a cursor. */
const LIST_PAGE = 50;
const LIST_MAX_REQUESTS = 8;

function saveFilters(filters) {
  try {
    localStorage.setItem(filterKey(), JSON.stringify(filters));
  } catch {
    // Storage may be unavailable in a third-party frame; filters then last for the visit.
  }
}

/** The local days a column covers, as the server gives them; null for overdue or none at all. */
function columnRange(column) {
  if (!column || column.key === "overdue" || !column.from) return null;
  return [column.from, column.to];
}

/** The column a local day falls in, by the server's column ranges (the future only). */
function columnOfDay(columns, day) {
  return columns.find((column) => {
    const range = columnRange(column);
    return range && range[0] <= day && (range[1] === null || day <= range[1]);
  });
}

function columnHint(column) {
  if (column.key === "overdue") return t("column.overdue_hint");
  const range = columnRange(column);
  if (!range) return t("column.empty_range");
  const [start, end] = range;
  if (end === null) return t("column.from", { day: formatDay(start, { year: false }) });
  if (start === end) {
    const day = formatDay(start, { year: false });
    // The server names the column's days off (weekends and holidays of the portal).
    return (column.days_off || []).includes(start) ? `${day} · ${t("column.day_off")}` : day;
  }
  return `${formatDay(start, { year: false })} – ${formatDay(end, { year: false })}`;
}

export function mountBoard(root) {
  const state = {
    board: null,
    filters: loadFilters(),
    error: null,
    loading: true,
    pending: new Set(),
    showAllPeople: false,
    /** Ids of the selected cards (the bulk bar acts on them); ``anchor`` starts shift-click ranges. */
    selected: new Set(),
    anchor: null,
    bulkBusy: false,
    /** "board" or "list" (the table of GET /touchpoints), remembered like the filters. */
    mode: loadMode(),
    /** One line per card (record, type, time), remembered like the view. */
    compact: loadCompact(),
    /** The column shown on a phone, where the columns are tabs; null: the first with cards. */
    tab: null,
    list: { items: [], next: null, loading: false, error: null },
    /** The open hand-overs the viewer may see (GET /handovers), for the banner. */
    handovers: [],
    listFilters: { status: "open", from: "", to: "", q: "" },
  };
  let loadSeq = 0;
  let queue = Promise.resolve();
  let drag = null;
  let suppressClick = false;

  const view = h("div", { class: "board-view", dataset: { testid: "board-view" } });
  let inflight = 0;
  // data-busy tells tests (and styles) that the server has not answered yet.
  const busy = (delta) => {
    inflight += delta;
    view.toggleAttribute("data-busy", inflight > 0);
  };
  replace(root, view);

  function columnOf(id) {
    return state.board?.columns.find((column) => column.items.some((item) => item.id === id));
  }

  function boardColumn(key) {
    return state.board?.columns.find((column) => column.key === key);
  }

  function findItem(id) {
    return columnOf(id)?.items.find((item) => item.id === id);
  }

  async function load({ quiet = false } = {}) {
    busy(1);
    try {
      if (state.mode === "list") await loadList({ quiet });
      else await loadBoard(quiet);
    } finally {
      busy(-1);
    }
  }

  function listQuery(cursor) {
    const { responsible_id: responsibleId, owner_type: ownerType, type } = state.filters;
    const { status, from, to, q } = state.listFilters;
    return query({ responsible_id: responsibleId, owner_type: ownerType, type, status, from, to, q: q.trim(), limit: LIST_PAGE, cursor });
  }

  /**
   * Load the list from the start, or (``more``) the next page. With a search the server may
   * answer short pages that still have a cursor: keep asking until a page's worth arrived.
   */
  async function loadList({ more = false, quiet = false } = {}) {
    const mine = ++loadSeq;
    const list = state.list;
    if (!more && !quiet) list.loading = true;
    list.error = null;
    render();
    try {
      const [first] = await Promise.all([api("GET", `/touchpoints${listQuery(more ? list.next : "")}`), more ? null : loadPresets()]);
      const items = [...first.items];
      let next = first.next_cursor;
      for (let asked = 1; next && items.length < LIST_PAGE && asked < LIST_MAX_REQUESTS; asked += 1) {
        const page = await api("GET", `/touchpoints${listQuery(next)}`);
        items.push(...page.items);
        next = page.next_cursor;
      }
      if (mine !== loadSeq) return;
      list.items = more ? [...list.items, ...items] : items;
      list.next = next;
      pruneSelection();
    } catch (error) {
      if (mine !== loadSeq) return;
      list.error = error;
    }
    list.loading = false;
    state.loading = false;
    render();
  }

  function setMode(mode) {
    if (state.mode === mode) return;
    state.mode = mode;
    saveMode(mode);
    state.selected.clear();
    state.anchor = null;
    load();
  }

  const searchLater = debounce(() => load({ quiet: true }), 300);

  function setListFilter(name, value) {
    state.listFilters = { ...state.listFilters, [name]: value };
    if (name === "q") searchLater();
    else load({ quiet: true });
  }

  async function loadBoard(quiet) {
    const mine = ++loadSeq;
    if (!quiet) {
      state.loading = true;
      render();
    }
    // The quick dates are needed only once a menu opens, and a hand-over banner is rare: the
    // cards do not wait for either (the banner, when there is one, follows them).
    const presets = loadPresets();
    const handovers = loadHandovers();
    try {
      const { responsible_id: responsibleId, owner_type: ownerType, type } = state.filters;
      const board = await api("GET", `/board${query({ responsible_id: responsibleId, owner_type: ownerType, type })}`);
      if (mine !== loadSeq || (quiet && state.pending.size)) return;
      state.board = board;
      state.error = null;
      pruneSelection();
    } catch (error) {
      if (mine !== loadSeq) return;
      state.error = error;
      if (state.board) toast(`${t("board.refresh_failed")} ${errorText(error)}`, { kind: "error" });
    }
    state.loading = false;
    render();
    const banners = await handovers;
    if (mine === loadSeq && state.board && JSON.stringify(banners) !== JSON.stringify(state.handovers)) {
      state.handovers = banners;
      render();
    }
    await presets;
  }

  function setFilter(name, value) {
    state.filters = { ...state.filters, [name]: value };
    saveFilters(state.filters);
    load();
  }

  // ---------------------------------------------------------------- rendering

  function render() {
    // Re-rendering replaces the nodes; keep the keyboard where it was (a card or a control).
    const active = view.contains(document.activeElement) ? document.activeElement : null;
    const focusedId = active?.closest(".card")?.dataset.id;
    let control = null;
    const focusedSelect = active?.classList.contains("card__select");
    if (!focusedId && active?.dataset.testid) {
      control = `[data-testid="${active.dataset.testid}"]`;
      if (active.dataset.userId) control += `[data-user-id="${active.dataset.userId}"]`;
    }
    // Only what changed is replaced: the board's columns and unchanged cards stay in place.
    reconcile(view, toolbar(), handoverBanner(), seesTeam() ? peopleBar() : null, selectionBar(), content(), hints());
    if (focusedId && focusedSelect) view.querySelector(`.card[data-id="${focusedId}"] .card__select`)?.focus();
    else if (focusedId) focusCard(Number(focusedId));
    else if (control) {
      const again = view.querySelector(control);
      again?.focus();
      // A search box re-rendered while typing keeps its caret at the end of the text.
      if (again?.type === "search") again.setSelectionRange(again.value.length, again.value.length);
    }
  }

  function toolbar() {
    const total = state.mode === "list" ? null : state.board ? state.board.columns.reduce((sum, column) => sum + column.items.length, 0) : null;
    const selectFilter = (name, label, options) =>
      h(
        "label",
        { class: "filter" },
        h("span", { class: "filter__label" }, label),
        h(
          "select",
          { class: "filter__select", dataset: { testid: `filter-${name}` }, on: { change: (event) => setFilter(name, event.target.value) } },
          options.map((option) => h("option", { value: option.value, selected: option.value === state.filters[name] }, option.label)),
        ),
      );
    return h(
      "div",
      { class: "toolbar" },
      h("div", { class: "toolbar__title" }, h("h1", { class: "page-title" }, t("board.title")), total !== null ? h("span", { class: "counter", dataset: { testid: "total" } }, formatNumber(total)) : null),
      h(
        "div",
        { class: "filters", role: "group", "aria-label": t("filter.label") },
        selectFilter("owner_type", t("filter.record"), [{ value: "", label: t("filter.all_records") }, ...ownerKinds().map((type) => ({ value: type, label: ownerTypeLabel(type) }))]),
        selectFilter("type", t("filter.type"), [{ value: "", label: t("filter.all_types") }, ...TYPES.map((type) => ({ value: type, label: typeLabel(type) }))]),
      ),
      filtersOn() ? filterChip() : null,
      h(
        "div",
        { class: "view-toggle", role: "group", "aria-label": t("view.label") },
        ["board", "list"].map((mode) =>
          h("button", { type: "button", class: ["view-toggle__item", state.mode === mode && "is-active"], "aria-pressed": String(state.mode === mode), dataset: { testid: `view-${mode}` }, on: { click: () => setMode(mode) } }, icon(mode === "board" ? "board" : "search"), h("span", {}, t(`view.${mode}`))),
        ),
      ),
      state.mode === "board"
        ? h(
            "button",
            { type: "button", class: ["view-toggle__item", "view-compact", state.compact && "is-active"], "aria-pressed": String(state.compact), title: t("view.compact_hint"), dataset: { testid: "view-compact" }, on: { click: toggleCompact } },
            h("span", {}, t("view.compact")),
          )
        : null,
      button(t("handover.open_dialog"), { iconName: "user", dataset: { testid: "handovers" }, onClick: () => openHandoversDialog({ today: state.board?.today, onChanged: () => load({ quiet: true }) }) }),
      button(t("board.new"), { kind: "success", iconName: "plus", dataset: { testid: "new-tp" }, onClick: () => openCreateDialog({ onDone: created }) }),
    );
  }

  /** "Lena covers Maxim's follow-ups until Fri 18 Dec" on the giver's and the taker's board. */
  function handoverBanner() {
    if (state.mode !== "board" || !state.board) return null;
    const person = Number(state.filters.responsible_id) || myId();
    return handoverBanners(state.handovers, state.board.today, person);
  }

  function toggleCompact() {
    state.compact = !state.compact;
    saveCompact(state.compact);
    render();
  }

  function filtersOn() {
    return Object.values(state.filters).some((value) => value !== "");
  }

  /** Filters are remembered across visits; this says they are on and takes them off. */
  function filterChip() {
    return h(
      "span",
      { class: "chip chip--filters", role: "status", dataset: { testid: "filters-on" } },
      icon("search"),
      h("span", {}, t("filter.on")),
      h("span", { class: "dot", "aria-hidden": "true" }, "·"),
      h(
        "button",
        { type: "button", class: "link chip__action", title: t("filter.clear_hint"), dataset: { testid: "filters-clear" }, on: { click: clearFilters } },
        t("filter.clear"),
      ),
    );
  }

  function clearFilters() {
    state.filters = { responsible_id: "", owner_type: "", type: "" };
    saveFilters(state.filters);
    load();
    view.querySelector("[data-testid=new-tp]")?.focus();
  }

  /** After creating: reload, then bring the new card into view and mark it for a moment. */
  async function created(touchPoint) {
    await load({ quiet: true });
    const card = view.querySelector(`.card[data-id="${touchPoint.id}"]`);
    if (!card) return;
    card.scrollIntoView({ block: "center", inline: "center" });
    card.classList.add("is-new");
    card.dataset.new = "";
    card.focus({ preventScroll: true });
    announce(t("create.highlight"));
    setTimeout(() => {
      card.classList.remove("is-new");
      delete card.dataset.new;
    }, 6000);
  }

  /**
   * Open and overdue cards per responsible user, counted from the board already loaded. When
   * the board shows one person only, the others' counts are unknown: they get none.
   */
  function peopleCounts() {
    if (state.mode !== "board" || !state.board) return null;
    const counts = new Map();
    const everyone = { open: 0, overdue: 0 };
    for (const column of state.board.columns) {
      for (const item of column.items) {
        const entry = counts.get(item.responsible_id) || { open: 0, overdue: 0 };
        for (const tally of [entry, everyone]) {
          tally.open += 1;
          if (column.key === "overdue") tally.overdue += 1;
        }
        counts.set(item.responsible_id, entry);
      }
    }
    const only = state.filters.responsible_id;
    return (user) => {
      if (!user) return only ? null : everyone;
      if (only && String(user.id) !== String(only)) return null;
      return counts.get(user.id) || { open: 0, overdue: 0 };
    };
  }

  function chipCounts(tally) {
    if (!tally) return null;
    const said = t("people.counts", { open: formatNumber(tally.open), overdue: formatNumber(tally.overdue) });
    return h(
      "span",
      { class: "person-chip__counts", title: said },
      h("span", { class: "person-chip__open", "aria-hidden": "true", dataset: { testid: "person-open" } }, formatNumber(tally.open)),
      tally.overdue ? h("span", { class: "person-chip__overdue", "aria-hidden": "true", dataset: { testid: "person-overdue" } }, formatNumber(tally.overdue)) : null,
      h("span", { class: "visually-hidden" }, said),
    );
  }

  function peopleBar() {
    const people = pickableUsers();
    const limit = 12;
    const shown = state.showAllPeople ? people : people.slice(0, limit);
    const countsOf = peopleCounts();
    const chip = (user) => {
      const active = String(user?.id ?? "") === String(state.filters.responsible_id);
      const props = {
        type: "button",
        class: ["person-chip", active && "is-active"],
        "aria-pressed": String(active),
        title: user ? t("people.chip_hint", { name: user.name }) : t("people.everyone_hint"),
        on: { click: () => setFilter("responsible_id", user ? String(user.id) : "") },
      };
      if (user) {
        props.dataset = { drop: "person", userId: String(user.id), testid: "person" };
        return h("button", props, avatar(user, "sm"), h("span", {}, user.id === myId() ? t("people.me") : user.name), chipCounts(countsOf?.(user)));
      }
      props.dataset = { testid: "person-all" };
      return h("button", props, h("span", { class: "avatar avatar--sm avatar--all", "aria-hidden": "true" }, icon("user")), h("span", {}, t("people.everyone")), chipCounts(countsOf?.(null)));
    };
    return h(
      "div",
      { class: "people", role: "group", "aria-label": t("people.label") },
      h("span", { class: "people__label" }, t("people.label")),
      chip(null),
      shown.map(chip),
      people.length > limit
        ? h("button", { type: "button", class: "link", on: { click: () => { state.showAllPeople = !state.showAllPeople; render(); } } }, state.showAllPeople ? t("people.fewer") : t("people.all", { count: formatNumber(people.length) }))
        : null,
    );
  }

  // ---------------------------------------------------------------- selection and bulk

  /** Every card's id in the order the board shows them (columns left to right, top to bottom). */
  function shownIds() {
    if (state.mode === "list") return state.list.items.map((item) => item.id);
    if (!state.board) return [];
    return COLUMNS.flatMap((key) => boardColumn(key)?.items.map((item) => item.id) || []);
  }

  /** Drop selected ids the board no longer shows (completed, moved away by a filter). */
  function pruneSelection() {
    const shown = new Set(shownIds());
    for (const id of state.selected) if (!shown.has(id)) state.selected.delete(id);
  }

  function toggleSelect(touchPoint, event) {
    const id = touchPoint.id;
    if (event?.shiftKey && state.anchor !== null && state.anchor !== id) {
      const order = shownIds();
      const [a, b] = [order.indexOf(state.anchor), order.indexOf(id)].sort((x, y) => x - y);
      if (a !== -1) for (const other of order.slice(a, b + 1)) state.selected.add(other);
      else state.selected.add(id);
    } else if (state.selected.has(id)) {
      state.selected.delete(id);
    } else {
      state.selected.add(id);
    }
    state.anchor = id;
    render();
    announce(tn("bulk.selected", state.selected.size));
  }

  function clearSelection() {
    if (!state.selected.size) return;
    state.selected.clear();
    state.anchor = null;
    render();
    announce(t("bulk.cleared"));
  }

  function selectionBar() {
    if (!state.selected.size) return null;
    return bulkBar(
      {
        ids: () => [...state.selected],
        clear: clearSelection,
        keepOnly: (ids) => {
          state.selected = new Set(ids);
        },
        setBusy: (value) => {
          state.bulkBusy = value;
          busy(value ? 1 : -1);
          render();
        },
        reload: () => load({ quiet: true }),
      },
      { busy: state.bulkBusy },
    );
  }

  /** Drop zones for each working day of a week column, shown while a card is dragged. */
  function dayZones(column) {
    if (!["this_week", "next_week"].includes(column.key)) return null;
    const range = columnRange(column);
    if (!range || range[1] === null || range[0] === range[1]) return null;
    const off = new Set(column.days_off || []);
    const days = [];
    for (let day = range[0]; day <= range[1] && days.length < 14; day = addDays(day, 1)) days.push(day);
    return h(
      "div",
      { class: "column__days", "aria-hidden": "true" },
      days.map((day) =>
        off.has(day)
          ? h("div", { class: "day-zone is-off" }, formatDay(day, { year: false }))
          : h("div", { class: "day-zone", dataset: { drop: "day", day, testid: `day-${day}` } }, formatDay(day, { year: false })),
      ),
    );
  }

  function sweepButton(column) {
    if (column.key !== "overdue" || !column.items.length) return null;
    return h(
      "button",
      {
        type: "button",
        class: "link column__sweep",
        "aria-haspopup": "menu",
        "aria-expanded": "false",
        dataset: { testid: "sweep" },
        on: {
          click: (event) => openSweepMenu(event.currentTarget, { responsibleId: state.filters.responsible_id || null, onDone: () => load({ quiet: true }) }),
        },
      },
      tn("sweep.button", column.items.length),
    );
  }

  function content() {
    if (state.mode === "list") return listView();
    if (state.loading && !state.board) return skeleton();
    if (state.error && !state.board) {
      return h("div", { class: "empty-state", role: "alert" }, h("p", {}, t("board.failed")), h("p", { class: "muted" }, errorText(state.error)), button(t("action.retry"), { kind: "primary", onClick: () => load() }));
    }
    return boardView();
  }

  /**
   * The board's columns are built once and then updated in place; a card is rebuilt only when
   * its touch-point or its marks (selected, pending, the minute its relative time is for)
   * changed. A re-render after ticking one card thus builds one card, not two hundred, and the
   * browser lays out only what moved.
   */
  let boardDom = null;
  const cardNodes = new Map();
  /**
   * New cards built per column in one pass. When many are new (the first load, a filter
   * change) the first frame gets about what a column shows above its fold, and the rest
   * follow a chunk per frame (``fillLater``): 200 cards reach the screen in a few frames
   * instead of one long one. data-filling on the board says cards are still to come.
   */
  const FOLD_CARDS = { full: 8, compact: 20 };
  const CHUNK_CARDS = 16;
  let fillScheduled = false;

  function fillLater() {
    if (fillScheduled) return;
    fillScheduled = true;
    // After the next frame has been painted, not before it (a bare rAF runs ahead of it).
    requestAnimationFrame(() =>
      setTimeout(() => {
        fillScheduled = false;
        if (state.mode === "board" && state.board && boardDom?.root.isConnected) boardView(CHUNK_CARDS);
        else boardDom?.root.removeAttribute("data-filling");
      }),
    );
  }

  function buildBoardDom() {
    const root = h("div", { class: "board", dataset: { testid: "board" } });
    const columnsEl = h("div", { class: "columns" });
    const columns = new Map(
      COLUMNS.map((key) => {
        const headingId = `col-${key}-title`;
        const head = h("header", { class: "column__head" });
        const body = h("div", { class: "column__body", role: "list", "aria-labelledby": headingId });
        const section = h("section", { class: ["column", `column--${key}`], id: `col-${key}`, "aria-labelledby": headingId, dataset: { key, testid: `column-${key}` } }, head, body);
        columnsEl.append(section);
        return [key, { section, head, body }];
      }),
    );
    return { root, columnsEl, columns, empty: h("p", { class: "board__empty" }, t("board.empty")) };
  }

  function cardSignature(item, key, minute) {
    return `${JSON.stringify(item)}|${key === "overdue"}|${state.selected.has(item.id)}|${state.pending.has(item.id)}|${minute}|${state.compact}`;
  }

  function boardCard(item, key, signature) {
    const selected = state.selected.has(item.id);
    const pending = state.pending.has(item.id);
    const known = cardNodes.get(item.id);
    if (known?.signature === signature) return known.node;
    const node = cardView(item, { draggable: true, menu: true, complete: true, select: true, selected, overdue: key === "overdue", compact: state.compact });
    if (pending) node.classList.add("is-pending");
    cardNodes.set(item.id, { signature, node });
    return node;
  }

  /** The column a phone shows: the chosen tab, else the first column with cards, else today. */
  function shownTab() {
    if (state.tab) return state.tab;
    return COLUMNS.find((key) => boardColumn(key)?.items.length) || "today";
  }

  /** On a phone the columns are tabs (CSS shows the bar and one column below 700 px only). */
  function columnTabs(active) {
    return h(
      "div",
      { class: "column-tabs", role: "tablist", "aria-label": t("column.tabs"), dataset: { testid: "column-tabs" } },
      COLUMNS.map((key) => {
        const count = boardColumn(key)?.items.length || 0;
        return h(
          "button",
          {
            type: "button",
            role: "tab",
            class: ["column-tabs__tab", `column-tabs__tab--${key}`, key === active && "is-active"],
            "aria-selected": String(key === active),
            "aria-controls": `col-${key}`,
            dataset: { testid: `tab-${key}` },
            on: { click: () => { state.tab = key; render(); } },
          },
          h("span", {}, t(`column.${key}`)),
          h("span", { class: "column-tabs__count", "aria-label": tn("column.count", count) }, formatNumber(count)),
        );
      }),
    );
  }

  function boardView(newPerColumn = state.compact ? FOLD_CARDS.compact : FOLD_CARDS.full) {
    boardDom ??= buildBoardDom();
    const { root, columnsEl, columns, empty } = boardDom;
    const total = state.board.columns.reduce((sum, column) => sum + column.items.length, 0);
    root.classList.toggle("is-loading", state.loading);
    root.classList.toggle("board--compact", state.compact);
    const tab = shownTab();
    reconcile(root, total === 0 ? empty : null, columnTabs(tab), columnsEl);
    const shown = new Set();
    const minute = Math.floor(Date.now() / 60000);
    let unbuilt = false;
    for (const key of COLUMNS) {
      const column = boardColumn(key) || { key, items: [] };
      const { section, head, body } = columns.get(key);
      const headingId = `col-${key}-title`;
      section.dataset.drop = columnRange(column) !== null ? "column" : "none";
      section.classList.toggle("is-tab-active", key === tab);
      reconcile(
        head,
        h("h2", { class: "column__title", id: headingId }, t(`column.${key}`)),
        h("span", { class: "column__count", dataset: column.items.length ? { testid: "count" } : { testid: "count", empty: "" }, "aria-label": tn("column.count", column.items.length) }, formatNumber(column.items.length)),
        h("span", { class: "column__hint" }, columnHint(column)),
        sweepButton(column),
      );
      const days = dayZones(column);
      body.classList.toggle("column__body--days", Boolean(days));
      // Beyond this pass's budget a changed card keeps its old node until the next pass (so
      // a column never shrinks under the reader's scroll), and the column ends at the first
      // card that has no node yet.
      const cards = [];
      let built = 0;
      for (const item of column.items) shown.add(item.id);
      for (const item of column.items) {
        const signature = cardSignature(item, key, minute);
        const known = cardNodes.get(item.id);
        if (known?.signature !== signature && built >= newPerColumn) {
          unbuilt = true;
          if (!known) break;
          cards.push(known.node);
          continue;
        }
        if (known?.signature !== signature) built += 1;
        cards.push(boardCard(item, key, signature));
      }
      reconcile(body, days, cards.length ? cards : h("p", { class: "column__empty" }, filtersOn() ? t("column.nothing_filtered") : t("column.nothing")));
    }
    for (const id of cardNodes.keys()) if (!shown.has(id)) cardNodes.delete(id);
    root.toggleAttribute("data-filling", unbuilt);
    if (unbuilt) fillLater();
    return root;
  }

  function listFilterBar() {
    const f = state.listFilters;
    const statusSelect = h(
      "select",
      { class: "filter__select", dataset: { testid: "list-status" }, on: { change: (event) => setListFilter("status", event.target.value) } },
      [{ value: "", label: t("list.all_statuses") }, ...["open", "done", "cancelled", "orphaned"].map((key) => ({ value: key, label: t(`status.${key}`) }))].map((option) => h("option", { value: option.value, selected: option.value === f.status }, option.label)),
    );
    const dayInput = (name, label) => {
      const day = dateField({ value: f[name] || null, testid: `list-${name}`, label, onChange: (value) => setListFilter(name, value || "") });
      return h("div", { class: "filter filter--day" }, h("span", { class: "filter__label", "aria-hidden": "true" }, label), day.node);
    };
    const search = h("input", {
      type: "search",
      class: "input list-search",
      value: f.q,
      placeholder: t("list.search_placeholder"),
      "aria-label": t("list.search"),
      "aria-keyshortcuts": "/",
      maxLength: 200,
      dataset: { testid: "list-search" },
      on: { input: (event) => setListFilter("q", event.target.value) },
    });
    return h(
      "div",
      { class: "list-filters", role: "search", "aria-label": t("list.search") },
      h("span", { class: "list-search__wrap" }, icon("search"), search),
      h("label", { class: "filter" }, h("span", { class: "filter__label" }, t("list.status")), statusSelect),
      dayInput("from", t("list.from")),
      dayInput("to", t("list.to")),
    );
  }

  function listView() {
    const list = state.list;
    const items = list.items;
    const allSelected = items.length > 0 && items.every((item) => state.selected.has(item.id));
    const selectAll = h("input", {
      type: "checkbox",
      class: "card__select",
      checked: allSelected,
      "aria-label": t("list.select_all"),
      dataset: { testid: "list-select-all" },
      on: {
        click: () => {
          if (allSelected) state.selected.clear();
          else for (const item of items) state.selected.add(item.id);
          render();
        },
      },
    });
    const row = (item) =>
      h(
        "tr",
        { class: ["list__row", state.selected.has(item.id) && "is-selected"], dataset: { id: String(item.id), testid: "list-row" } },
        h("td", {}, h("input", { type: "checkbox", class: "card__select", checked: state.selected.has(item.id), "aria-label": t("card.select", { title: ownerTitle(item.owner) }), dataset: { testid: "row-select" }, on: { click: (event) => toggleSelect(item, event) } })),
        h("td", {}, h("button", { type: "button", class: "link list__open", dataset: { testid: "row-open" }, on: { click: () => openDetails(item) } }, ownerTitle(item.owner)), h("div", { class: "muted small" }, ownerTypeLabel(item.owner.type))),
        h("td", { class: "list__stage", dataset: { testid: "row-stage" } }, item.owner.stage || ""),
        h("td", { class: "list__amount", dataset: { testid: "row-amount" } }, item.owner.amount == null ? "" : formatMoney(item.owner.amount, item.owner.currency)),
        h("td", {}, typeLabel(item.type)),
        h("td", { class: ["list__when", item.status === "open" && deadlineMs(item) < Date.now() && "when--overdue"] }, h("time", { dateTime: item.deadline }, formatDateTime(deadlineMs(item), portalZone()))),
        h("td", {}, personView(item.responsible_id)),
        h("td", {}, h("span", { class: ["status", `status--${item.status}`] }, t(`status.${item.status}`))),
        h("td", { class: "list__subject" }, subjectView(item)),
      );
    let body;
    if (list.loading && !items.length) body = h("p", { class: "muted", role: "status" }, t("board.loading"));
    else if (list.error && !items.length) body = h("div", { class: "empty-state", role: "alert" }, h("p", {}, t("list.failed")), h("p", { class: "muted" }, errorText(list.error)), button(t("action.retry"), { kind: "primary", onClick: () => load() }));
    else if (!items.length) body = h("p", { class: "board__empty", dataset: { testid: "list-empty" } }, t("list.empty"));
    else {
      body = h(
        "table",
        { class: "list", dataset: { testid: "list" } },
        h("caption", { class: "visually-hidden" }, t("list.caption")),
        h(
          "thead",
          {},
          h("tr", {}, h("th", { scope: "col" }, selectAll), ["record", "stage", "amount", "type", "deadline", "responsible", "status", "subject"].map((key) => h("th", { scope: "col", class: `list__col-${key}` }, t(`list.col.${key}`)))),
        ),
        h("tbody", {}, items.map(row)),
      );
    }
    return h(
      "div",
      { class: ["list-view", list.loading && "is-loading"], dataset: { testid: "board" } },
      listFilterBar(),
      body,
      list.error && items.length ? h("p", { class: "muted", role: "alert" }, `${t("list.failed")} ${errorText(list.error)}`) : null,
      list.next ? button(t("list.more"), { dataset: { testid: "list-more" }, onClick: () => loadMoreList() }) : null,
    );
  }

  async function loadMoreList() {
    busy(1);
    try {
      await loadList({ more: true });
    } finally {
      busy(-1);
    }
  }

  function skeleton() {
    return h(
      "div",
      { class: "board is-skeleton", "aria-busy": "true" },
      h("p", { class: "visually-hidden", role: "status" }, t("board.loading")),
      h("div", { class: "columns" }, COLUMNS.map((key) => h("section", { class: ["column", `column--${key}`] }, h("header", { class: "column__head" }, h("span", { class: "column__title" }, t(`column.${key}`))), h("div", { class: "column__body" }, h("div", { class: "card card--ghost" }), h("div", { class: "card card--ghost" }))))),
    );
  }

  function hints() {
    return h(
      "p",
      { class: "board-hints" },
      icon("keyboard"),
      h("span", {}, seesTeam() ? t("board.hint_team") : t("board.hint")),
      h("button", { type: "button", class: "link", dataset: { testid: "shortcuts" }, on: { click: showShortcuts } }, t("board.shortcuts")),
    );
  }

  function showShortcuts() {
    const rows = [
      ["Enter", t("keys.open")],
      ["Shift + →  /  Shift + ←", t("keys.move")],
      ["↑ ↓ ← →", t("keys.navigate")],
      ["M", t("keys.menu")],
      ["Space  /  X", t("keys.select")],
      ["Shift + click", t("keys.range")],
      ["Esc", t("keys.clear")],
      ["C", t("keys.complete")],
      ["N", t("keys.new")],
      ["?", t("keys.help")],
    ];
    const handle = openDialog({
      title: t("keys.title"),
      size: "sm",
      body: h("dl", { class: "shortcuts" }, rows.map(([keys, what]) => [h("dt", {}, h("kbd", {}, keys)), h("dd", {}, what)])),
      footer: [h("span", { class: "spacer" }), button(t("action.close"), { onClick: () => handle.close() })],
    });
  }

  function focusCard(id) {
    const card = view.querySelector(`.card[data-id="${id}"]`);
    if (card) card.focus({ preventScroll: false });
  }

  // ---------------------------------------------------------------- actions

  function openDetails(touchPoint) {
    openDetailsView(touchPoint, { onComplete: openComplete, onChanged: () => load({ quiet: true }) });
  }

  function openComplete(touchPoint) {
    openCompleteDialog(touchPoint, {
      onDone: async (result) => {
        await load({ quiet: true });
        if (result?.follow_up) focusCard(result.follow_up.id);
      },
    });
  }

  function allowedTargets(touchPoint) {
    const current = columnOf(touchPoint.id)?.key;
    return COLUMNS.filter((key) => key !== current && columnRange(boardColumn(key)) !== null);
  }

  function openCardMenu(touchPoint, anchor) {
    const items = [
      { label: t("action.open"), iconName: "board", onSelect: () => openDetails(touchPoint), restoreFocus: false },
      { label: t("action.complete_dots"), iconName: "check", onSelect: () => openComplete(touchPoint), restoreFocus: false },
      { group: t("menu.move_to") },
      ...allowedTargets(touchPoint).map((key) => ({ key: `move-${key}`, label: t(`column.${key}`), iconName: "clock", onSelect: () => move(touchPoint, { column: key }) })),
    ];
    const quick = presetItems((day) => move(touchPoint, { day })).filter((item) => columnOfDay(state.board?.columns || [], app.presets[item.key.slice("preset-".length)]));
    if (quick.length) items.push({ group: t("menu.quick_dates") }, ...quick);
    items.push({
      key: "move-day",
      label: t("menu.other_day"),
      iconName: "calendar",
      restoreFocus: false,
      onSelect: async () => {
        const day = await askDay(t("menu.other_day_title", { title: ownerTitle(touchPoint.owner) }));
        if (day && columnOfDay(state.board?.columns || [], day)) move(touchPoint, { day });
        else if (day) toast(t("move.past_day"), { kind: "error" });
      },
    });
    if (seesTeam() || touchPoint.responsible_id === myId()) {
      items.push("separator", { label: t("menu.hand_over"), iconName: "user", onSelect: () => openHandOverDialog(touchPoint, { onChoose: (id) => move(touchPoint, { responsibleId: id }) }), restoreFocus: false });
    }
    openMenu(anchor, items, { label: t("card.actions", { title: ownerTitle(touchPoint.owner) }) });
  }

  /** Put ``item`` into ``column``: at ``index``, or else in deadline order. */
  function place(item, column, index = null) {
    if (!column) return;
    const at = index ?? column.items.findIndex((other) => deadlineMs(other) > deadlineMs(item));
    column.items.splice(at === -1 ? column.items.length : Math.min(at, column.items.length), 0, item);
  }

  /** Reschedule into ``column`` and/or reassign to ``responsibleId``, optimistically. */
  function move(touchPoint, { column = null, responsibleId = null, day = null }) {
    const fromColumn = columnOf(touchPoint.id);
    if (!fromColumn || !state.board) return Promise.resolve();
    // A precise day (a quick date, a day zone of a week column) lands in the column it falls in.
    if (day) column = columnOfDay(state.board.columns, day)?.key || null;
    if (day && !column) return Promise.resolve();
    const original = { ...touchPoint };
    const originalIndex = fromColumn.items.findIndex((item) => item.id === touchPoint.id);
    // The server picks the deadline (a working day of the column, the same time of day);
    // until it answers the card waits at the end of the column it was moved to.
    const patch = {};
    const range = day ? [day, day] : column ? columnRange(boardColumn(column)) : null;
    if (column) {
      if (!range) return Promise.resolve();
      patch.day = range[0];
    }
    if (responsibleId) patch.responsible_id = responsibleId;
    if (!Object.keys(patch).length) return Promise.resolve();

    const updated = responsibleId ? { ...touchPoint, responsible_id: responsibleId } : { ...touchPoint };
    const stillShown = !(responsibleId && state.filters.responsible_id && String(responsibleId) !== String(state.filters.responsible_id));
    fromColumn.items.splice(originalIndex, 1);
    if (stillShown) {
      const target = column ? boardColumn(column) : fromColumn;
      place(updated, target, column ? target.items.length : originalIndex);
    }
    state.pending.add(touchPoint.id);
    render();
    if (stillShown) focusCard(touchPoint.id);
    const title = ownerTitle(touchPoint.owner);
    const what = day ? t("move.to_day", { title, day: formatDay(day) }) : column ? t("move.to_column", { title, column: t(`column.${column}`) }) : t("move.to_person", { title, name: userById(responsibleId).name });
    announce(what);

    busy(1);
    const run = async () => {
      try {
        const { body: answer, undo } = await patchWithUndo(`/touchpoints/${touchPoint.id}`, patch);
        state.pending.delete(touchPoint.id);
        const landed = answer?.deadline ? localDate(parseInstant(answer.deadline), portalZone()) : null;
        if (column && landed && stillShown) {
          // Show the server's deadline in the column its day falls in, before the reload.
          const shown = findItem(touchPoint.id);
          const home = columnOfDay(state.board.columns, landed);
          if (shown && home) {
            const holder = columnOf(touchPoint.id);
            holder.items.splice(holder.items.indexOf(shown), 1);
            place({ ...shown, ...answer }, home);
            render();
          }
        }
        const said = range && landed && (landed < range[0] || (range[1] !== null && landed > range[1])) ? t("move.working_day", { title, day: formatDay(landed) }) : what;
        undoToast(said, undo, { onUndone: () => load({ quiet: true }) });
        await load({ quiet: true });
      } catch (error) {
        state.pending.delete(touchPoint.id);
        // Put the card back exactly where it was.
        for (const candidate of state.board.columns) {
          const index = candidate.items.findIndex((item) => item.id === touchPoint.id);
          if (index !== -1) candidate.items.splice(index, 1);
        }
        const home = state.board.columns.find((candidate) => candidate.key === fromColumn.key);
        home?.items.splice(Math.min(originalIndex, home.items.length), 0, original);
        render();
        focusCard(touchPoint.id);
        toast(`${t("move.failed", { title })} ${errorText(error)} ${t("move.rolled_back")}`, { kind: "error" });
        announce(t("move.rolled_back"));
      } finally {
        busy(-1);
      }
    };
    queue = queue.then(run);
    return queue;
  }

  // ---------------------------------------------------------------- keyboard

  view.addEventListener("keydown", (event) => {
    if (menuIsOpen()) return;
    if (event.key === "Escape" && state.selected.size && !event.target.closest("dialog")) {
      event.preventDefault();
      clearSelection();
      return;
    }
    if (event.target.closest("input, select, textarea")) return;
    if (event.key === "/" && state.mode === "list" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      view.querySelector("[data-testid=list-search]")?.focus();
      return;
    }
    if (event.key === "?" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      showShortcuts();
      return;
    }
    if ((event.key === "n" || event.key === "N") && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      openCreateDialog({ onDone: created });
      return;
    }
    const card = event.target.closest(".card");
    if (!card || event.target !== card || !state.board) return;
    const id = Number(card.dataset.id);
    const touchPoint = findItem(id);
    if (!touchPoint) return;
    const columnKeys = COLUMNS;
    const currentKey = columnOf(id).key;
    if (event.key === "Enter") {
      event.preventDefault();
      openDetails(touchPoint);
    } else if (event.key === " " || event.key === "x" || event.key === "X") {
      event.preventDefault();
      toggleSelect(touchPoint, event);
    } else if (event.shiftKey && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      event.preventDefault();
      const step = event.key === "ArrowRight" ? 1 : -1;
      const allowed = new Set(allowedTargets(touchPoint));
      let index = columnKeys.indexOf(currentKey) + step;
      while (index >= 0 && index < columnKeys.length && !allowed.has(columnKeys[index])) index += step;
      if (index >= 0 && index < columnKeys.length) move(touchPoint, { column: columnKeys[index] });
      else announce(t("move.nowhere"));
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const cards = [...card.parentElement.querySelectorAll(".card")];
      cards[cards.indexOf(card) + (event.key === "ArrowDown" ? 1 : -1)]?.focus();
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      const step = event.key === "ArrowRight" ? 1 : -1;
      const position = [...card.parentElement.querySelectorAll(".card")].indexOf(card);
      for (let index = columnKeys.indexOf(currentKey) + step; index >= 0 && index < columnKeys.length; index += step) {
        const cards = view.querySelectorAll(`.column[data-key="${columnKeys[index]}"] .card`);
        if (cards.length) {
          cards[Math.min(position, cards.length - 1)].focus();
          break;
        }
      }
    } else if (event.key === "m" || event.key === "M" || event.key === "ContextMenu" || (event.shiftKey && event.key === "F10")) {
      event.preventDefault();
      openCardMenu(touchPoint, card.querySelector(".card__menu"));
    } else if (event.key === "c" || event.key === "C") {
      event.preventDefault();
      openComplete(touchPoint);
    }
  });

  // ---------------------------------------------------------------- drag and drop (pointer events)

  view.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || event.pointerType === "touch") return;
    const card = event.target.closest(".card--draggable");
    if (!card || event.target.closest("button, a, input, select")) return;
    drag = { card, id: Number(card.dataset.id), startX: event.clientX, startY: event.clientY, active: false, target: null };
    window.addEventListener("pointermove", onPointerMove);
    window.addEventListener("pointerup", onPointerUp);
    window.addEventListener("pointercancel", cancelDrag);
  });

  function dropTargetAt(x, y) {
    const under = document.elementFromPoint(x, y);
    const target = under?.closest?.('[data-drop="day"], [data-drop="column"], [data-drop="person"]');
    if (!target || !drag) return null;
    const touchPoint = findItem(drag.id);
    if (!touchPoint) return null;
    if (target.dataset.drop === "day") return target;
    if (target.dataset.drop === "column") {
      return allowedTargets(touchPoint).includes(target.dataset.key) ? target : null;
    }
    return Number(target.dataset.userId) !== touchPoint.responsible_id ? target : null;
  }

  function onPointerMove(event) {
    if (!drag) return;
    if (!drag.active) {
      if (Math.hypot(event.clientX - drag.startX, event.clientY - drag.startY) < DRAG_THRESHOLD) return;
      const rect = drag.card.getBoundingClientRect();
      drag.active = true;
      drag.offsetX = drag.startX - rect.left;
      drag.offsetY = drag.startY - rect.top;
      drag.ghost = drag.card.cloneNode(true);
      drag.ghost.classList.add("card--ghost-drag");
      drag.ghost.removeAttribute("tabindex");
      drag.ghost.setAttribute("aria-hidden", "true");
      drag.ghost.style.setProperty("width", `${rect.width}px`);
      document.body.append(drag.ghost);
      drag.card.classList.add("is-drag-source");
      document.body.classList.add("is-dragging");
      window.addEventListener("keydown", onDragKey, true);
    }
    event.preventDefault();
    drag.ghost.style.setProperty("transform", `translate(${event.clientX - drag.offsetX}px, ${event.clientY - drag.offsetY}px) rotate(2deg)`);
    const target = dropTargetAt(event.clientX, event.clientY);
    if (target !== drag.target) {
      drag.target?.classList.remove("is-drop-target");
      target?.classList.add("is-drop-target");
      drag.target = target;
    }
  }

  function onDragKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      cancelDrag();
    }
  }

  function endDrag() {
    window.removeEventListener("pointermove", onPointerMove);
    window.removeEventListener("pointerup", onPointerUp);
    window.removeEventListener("pointercancel", cancelDrag);
    window.removeEventListener("keydown", onDragKey, true);
    if (drag?.active) {
      drag.ghost?.remove();
      drag.card.classList.remove("is-drag-source");
      drag.target?.classList.remove("is-drop-target");
      document.body.classList.remove("is-dragging");
      suppressClick = true;
      setTimeout(() => (suppressClick = false), 0);
    }
    const done = drag;
    drag = null;
    return done;
  }

  function cancelDrag() {
    endDrag();
  }

  function onPointerUp(event) {
    if (!drag) return;
    const wasActive = drag.active;
    const target = wasActive ? dropTargetAt(event.clientX, event.clientY) : null;
    const done = endDrag();
    if (!wasActive || !target) return;
    const touchPoint = findItem(done.id);
    if (!touchPoint) return;
    if (target.dataset.drop === "day") move(touchPoint, { day: target.dataset.day });
    else if (target.dataset.drop === "column") move(touchPoint, { column: target.dataset.key });
    else move(touchPoint, { responsibleId: Number(target.dataset.userId) });
  }

  // One listener for every card's clicks (the list view's rows carry their own).
  onCardClicks(view, findItem, { onOpen: openDetails, onMenu: openCardMenu, onComplete: openComplete, onSelect: toggleSelect });

  view.addEventListener(
    "click",
    (event) => {
      if (suppressClick) {
        event.stopPropagation();
        event.preventDefault();
      }
    },
    true,
  );

  load();
  return { reload: () => load({ quiet: true }) };
}
