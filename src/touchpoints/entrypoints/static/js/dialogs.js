// The dialogs: complete (with the next follow-up), create, details (chain, edit, cancel), hand over.

import { api, query } from "./api.js";
import { crmPath, inFrame, openPath, openSlider, selectUser, slidersAvailable } from "./bx.js";
import { deadlineMs, ownerTypeLabel, ownerView, personView, subjectView, typeBadge, typeLabel } from "./cards.js";
import { debounce, h, icon, nextId } from "./dom.js";
import { currentLanguage, dateFieldPattern, formatDateTime, formatDay, formatRelative, formatTime, parseTimeField, t } from "./i18n.js";
import {
  TYPES,
  app,
  enabledOwnerTypes,
  errorText,
  myId,
  ownerTitle,
  pickableUsers,
  portalZone,
  seesTeam,
  setUsers,
  userById,
} from "./state.js";
import { button, confirmDialog, dateField, field, formDialog, openDialog, select, showFieldErrors, toast } from "./ui.js";
import { patchWithUndo, undoToast } from "./undo.js";
import { addDays, isoInZone, localDate, localTime, zonedInstant } from "./zone.js";

// Times offered by the time field's list, every half hour of a working day.
const TIME_SLOTS = Array.from({ length: 30 }, (_, i) => `${String(7 + Math.floor(i / 2)).padStart(2, "0")}:${i % 2 ? "30" : "00"}`);

/**
 * Date and time fields read as wall time in the portal's zone, written the way the UI's
 * language writes them (en "12/3/2026", "9:00 AM"; ru "03.12.2026", "09:00"); the time field
 * suggests half hours.
 */
function deadlineInputs({ ms = null, name = "deadline", label = t("field.deadline") } = {}) {
  const zone = portalZone();
  const day = dateField({ testid: `${name}-date`, label: t("field.date") });
  const date = day.input;
  date.required = true;
  const listId = nextId("times");
  const slots = h("datalist", { id: listId }, TIME_SLOTS.map((slot) => h("option", { value: formatTime(slot) })));
  const time = h("input", { type: "text", class: "input input--time-text", lang: currentLanguage(), autocomplete: "off", required: true, placeholder: formatTime("10:00"), dataset: { testid: `${name}-time` } });
  time.setAttribute("list", listId);
  // Typed loosely ("9", "930pm", "21:30"): shown back the language's way once left.
  time.addEventListener("change", () => {
    const parsed = parseTimeField(time.value);
    if (parsed) time.value = formatTime(parsed);
  });
  const set = (value) => {
    day.set(value === null ? null : localDate(value, zone));
    time.value = value === null ? "" : formatTime(localTime(value, zone));
  };
  set(ms);
  const group = h("div", { class: "datetime" }, day.node, time, slots);
  const node = field({ label, control: group, name, hint: t("field.zone_hint", { zone }), className: "field--deadline" });
  // The group itself is not labelable; name the inputs for assistive technology.
  time.setAttribute("aria-label", t("field.time"));
  return {
    node,
    date,
    time,
    set,
    /** Put a local day into the date field, keeping the time typed (10:00 when none). */
    setDay(local) {
      day.set(local);
      if (!time.value.trim()) time.value = formatTime("10:00");
    },
    /** Whether something was typed that is no date or time. */
    invalid() {
      if (!date.value.trim()) return false;
      return day.invalid() || (time.value.trim() !== "" && parseTimeField(time.value) === null);
    },
    /** ISO 8601 with the portal's offset, or null when left empty (or unreadable). */
    read() {
      const local = day.read();
      if (!local) return null;
      const wall = time.value.trim() ? parseTimeField(time.value) : "10:00";
      if (!wall) return null;
      return isoInZone(zonedInstant(local, wall, zone), zone);
    },
  };
}

/** Buttons for the server's quick dates (``app.presets``); ``pick`` gets the local day. */
function quickDates(pick) {
  const presets = app.presets || {};
  const keys = ["tomorrow", "next_working_day", "next_monday", "in_default_interval"].filter((key) => presets[key]);
  if (!keys.length) return null;
  return h(
    "div",
    { class: "quick-dates", role: "group", "aria-label": t("menu.quick_dates") },
    keys.map((key) =>
      h("button", { type: "button", class: "quick-dates__item", dataset: { testid: `quick-${key}` }, title: formatDay(presets[key]), on: { click: () => pick(presets[key]) } }, t(`preset.${key}`)),
    ),
  );
}

function typeSelect(value) {
  return select(TYPES.map((type) => ({ value: type, label: typeLabel(type) })), { value, name: "type" });
}

/**
 * A responsible user: Bitrix24's own picker inside the portal (BX24.selectUser, BITRIX24.md
 * §22.4), the app's list of users in the demo. Either way a control with ``value`` (the user
 * id as a string), ``focus()``, ``disabled`` and a ``change`` event.
 */
export function userSelect(value, { name = "responsible_id", placeholder = false } = {}) {
  if (inFrame()) return portalUserPicker(placeholder ? value : (value ?? myId()), name);
  const options = pickableUsers().map((user) => ({ value: user.id, label: user.id === myId() ? t("user.me_named", { name: user.name }) : user.name }));
  // With ``placeholder`` nobody is chosen until the user chooses.
  return select(placeholder ? [{ value: "", label: t("user.pick") }, ...options] : options, { value: value ?? "", name });
}

function portalUserPicker(value, name) {
  const label = h("span", { class: "user-pick__name" });
  const picker = h("button", { type: "button", class: "input user-pick", name, "aria-haspopup": "dialog", dataset: { testid: "user-pick" } }, icon("user"), label);
  const show = (id, shown) => {
    picker.value = id ? String(id) : "";
    label.textContent = id ? (id === myId() ? t("user.me_named", { name: shown }) : shown) : t("user.pick");
  };
  show(value, value ? userById(value).name : "");
  picker.addEventListener("click", async () => {
    const user = await selectUser();
    if (!user) return;
    // Someone the app's list lacks (it holds whom the app has seen) is named as Bitrix24 names them.
    if (!app.usersById.has(user.id)) setUsers([...app.users, { id: user.id, name: user.name, photo: null, active: true, department_ids: [] }]);
    show(user.id, userById(user.id).name);
    picker.dispatchEvent(new Event("change", { bubbles: true }));
  });
  return picker;
}

function applyServerError(scope, error, fallbackMessage) {
  const matched = showFieldErrors(scope, error.fields || {});
  toast(`${fallbackMessage} ${errorText(error)}`, { kind: "error" });
  return matched;
}

/** Complete ``touchPoint`` with a result note and, unless skipped, schedule the next step. */
export function openCompleteDialog(touchPoint, { onDone } = {}) {
  const note = h("textarea", {
    class: "input",
    rows: 4,
    maxLength: 10000,
    required: true,
    autofocus: true,
    placeholder: t("complete.note_placeholder"),
    dataset: { testid: "result-note" },
  });
  const schedule = h("input", { type: "checkbox", checked: true, dataset: { testid: "schedule-follow-up" } });
  const when = deadlineInputs({ name: "follow_up.deadline", label: t("complete.next_when") });
  const type = typeSelect(touchPoint.type);
  const responsible = userSelect(touchPoint.responsible_id, { name: "follow_up.responsible_id" });
  // Only admins and team viewers plan for colleagues; everyone else carries the responsible over.
  responsible.disabled = !seesTeam();
  const preview = h("p", { class: "muted small" }, t("complete.loading_default"));
  const followUp = h(
    "fieldset",
    { class: "follow-up" },
    h("legend", { class: "visually-hidden" }, t("complete.next")),
    when.node,
    quickDates((local) => when.setDay(local)),
    h("div", { class: "row" }, field({ label: t("field.type"), control: type, name: "follow_up.type" }), field({ label: t("field.responsible"), control: responsible, name: "follow_up.responsible_id" })),
    preview,
  );
  const submit = button(t("complete.submit_next"), { kind: "success", iconName: "check", type: "submit", dataset: { testid: "complete-submit" } });
  const form = h(
    "form",
    { class: "form", noValidate: true },
    h(
      "div",
      { class: "summary" },
      typeBadge(touchPoint.type),
      h("div", { class: "summary__text" }, ownerView(touchPoint.owner), subjectView(touchPoint), h("div", { class: "muted small" }, `${typeLabel(touchPoint.type)} · ${formatDateTime(deadlineMs(touchPoint), portalZone())}`)),
    ),
    field({ label: t("complete.note"), control: note, name: "result_note", required: true }),
    h("label", { class: "check" }, schedule, h("span", {}, t("complete.schedule"))),
    followUp,
  );
  const sync = () => {
    followUp.disabled = !schedule.checked;
    followUp.classList.toggle("is-off", !schedule.checked);
    submit.querySelector(".btn__label").textContent = schedule.checked ? t("complete.submit_next") : t("complete.submit");
  };
  schedule.addEventListener("change", sync);

  form.id = nextId("complete-form");
  const handle = formDialog(form, submit, { title: t("complete.title"), className: "dialog--complete" });

  api("GET", `/followup-preview${query({ from: touchPoint.deadline })}`)
    .then((answer) => {
      const suggested = deadlineMsOf(answer.deadline);
      if (!when.date.value && !Number.isNaN(suggested)) when.set(suggested);
      preview.textContent = t("complete.default_hint");
    })
    .catch(() => {
      preview.textContent = t("complete.default_unknown");
    });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldErrors(form, {});
    const resultNote = note.value.trim();
    if (!resultNote) {
      showFieldErrors(form, { result_note: t("complete.note_required") });
      note.focus();
      return;
    }
    if (schedule.checked && when.invalid()) {
      showFieldErrors(form, { "follow_up.deadline": t("field.datetime_invalid", { pattern: dateFieldPattern() }) });
      when.date.focus();
      return;
    }
    let body = { result_note: resultNote, follow_up: null };
    if (schedule.checked) {
      const follow = { type: type.value };
      const deadline = when.read();
      if (deadline) follow.deadline = deadline;
      const responsibleId = Number(responsible.value);
      if (responsibleId && responsibleId !== touchPoint.responsible_id) follow.responsible_id = responsibleId;
      body = { ...body, follow_up: follow };
    }
    handle.setBusy(true);
    try {
      const result = await api("POST", `/touchpoints/${touchPoint.id}/complete`, body);
      handle.close();
      const next = result?.follow_up;
      toast(next ? t("complete.done_next", { when: formatDateTime(deadlineMs(next), portalZone()) }) : t("complete.done"), { kind: "success" });
      onDone?.(result);
    } catch (error) {
      handle.setBusy(false);
      applyServerError(form, error, t("complete.failed"));
    }
  });
  sync();
  return handle;
}

function deadlineMsOf(iso) {
  return deadlineMs({ deadline: iso });
}

/** The default deadline of a new touch-point: the next working day (the server's preset) at 10:00, portal time. */
function defaultNewDeadline() {
  const zone = portalZone();
  const day = app.presets?.next_working_day || addDays(localDate(Date.now(), zone), 1);
  return zonedInstant(day, "10:00", zone);
}

/** A search-as-you-type picker of CRM records (ARIA combobox with a listbox). */
function recordPicker() {
  const types = enabledOwnerTypes();
  const ownerType = select(types.map((type) => ({ value: type, label: ownerTypeLabel(type) })), { value: types.includes("deal") ? "deal" : types[0], name: "owner.type" });
  const listId = nextId("records");
  const input = h("input", {
    type: "text",
    class: "input",
    role: "combobox",
    autocomplete: "off",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": listId,
    placeholder: t("create.search_placeholder"),
    dataset: { testid: "record-search" },
  });
  const list = h("ul", { class: "picker__list", role: "listbox", id: listId, hidden: true });
  const chosen = h("div", { class: "picker__chosen", hidden: true });
  let selected = null;
  let active = -1;
  let items = [];
  let seq = 0;

  const highlight = (index) => {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    const current = list.children[index];
    if (current) {
      input.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  };
  const closeList = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    highlight(-1);
  };
  const choose = (item) => {
    selected = item;
    closeList();
    input.value = "";
    chosen.replaceChildren(
      h("span", { class: "chip chip--record" }, h("span", {}, item.title), h("span", { class: "muted" }, ` · ${ownerTypeLabel(item.type)}`),
        h("button", { type: "button", class: "chip__remove", "aria-label": t("create.change_record"), on: { click: () => { selected = null; chosen.hidden = true; input.hidden = false; input.focus(); } } }, icon("close"))),
    );
    chosen.hidden = false;
    input.hidden = true;
  };
  const render = (results, state) => {
    items = results;
    list.replaceChildren(
      ...results.map((item, i) =>
        h(
          "li",
          { id: `${listId}-${i}`, role: "option", class: "picker__option", "aria-selected": "false", on: { mousedown: (event) => event.preventDefault(), click: () => choose(item) } },
          h("span", {}, item.title),
          h("span", { class: "muted small" }, `${ownerTypeLabel(item.type)} #${item.id}`),
        ),
      ),
    );
    if (!results.length) list.append(h("li", { class: "picker__empty", role: "presentation" }, state === "error" ? t("create.search_failed") : t("create.no_records")));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(results.length ? 0 : -1);
  };
  const search = debounce(async () => {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) {
      closeList();
      return;
    }
    try {
      const answer = await api("GET", `/records/search${query({ owner_type: ownerType.value, q })}`);
      if (mine === seq) render(answer.items || [], "ok");
    } catch {
      if (mine === seq) render([], "error");
    }
  }, 250);
  input.addEventListener("input", search);
  ownerType.addEventListener("change", () => {
    selected = null;
    chosen.hidden = true;
    input.hidden = false;
    search();
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (items.length) highlight((active + (event.key === "ArrowDown" ? 1 : -1) + items.length) % items.length);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (items[active]) choose(items[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closeList();
    }
  });
  input.addEventListener("blur", () => setTimeout(closeList, 150));
  const node = h(
    "div",
    { class: "picker" },
    h("div", { class: "row row--tight" }, field({ label: t("field.record_type"), control: ownerType, className: "field--narrow" }), field({ label: t("field.record"), control: input, name: "owner", required: true, className: "field--grow" })),
    chosen,
    list,
  );
  return { node, value: () => selected, focus: () => input.focus() };
}

/** Plan a new touch-point; ``owner`` fixes the record (the CRM card tab). */
export function openCreateDialog({ owner = null, onDone } = {}) {
  const picker = owner ? null : recordPicker();
  const typeGroup = h(
    "div",
    { class: "segmented", role: "radiogroup", "aria-label": t("field.type") },
    TYPES.map((type, index) =>
      h(
        "label",
        { class: "segmented__item" },
        h("input", { type: "radio", name: "tp-type", value: type, checked: index === 0 }),
        h("span", { class: "segmented__face" }, icon(type), h("span", {}, typeLabel(type))),
      ),
    ),
  );
  const when = deadlineInputs({ ms: defaultNewDeadline() });
  const responsible = userSelect(myId());
  responsible.disabled = !seesTeam();
  const title = h("input", { type: "text", class: "input", maxLength: 255, placeholder: t("create.title_placeholder"), dataset: { testid: "create-title" } });
  const note = h("textarea", { class: "input", rows: 3, maxLength: 10000, placeholder: t("create.note_placeholder") });
  const submit = button(t("create.submit"), { kind: "primary", type: "submit", dataset: { testid: "create-submit" } });
  const form = h(
    "form",
    { class: "form", noValidate: true, id: nextId("create-form") },
    owner
      ? h("div", { class: "summary" }, ownerView(owner), h("span", { class: "muted small" }, ownerTypeLabel(owner.type)))
      : picker.node,
    field({ label: t("field.type"), control: typeGroup, name: "type" }),
    h("div", { class: "row" }, when.node, field({ label: t("field.responsible"), control: responsible, name: "responsible_id" })),
    field({ label: t("field.title"), control: title, name: "title", hint: t("create.title_hint") }),
    field({ label: t("field.note"), control: note, name: "note" }),
  );
  const handle = formDialog(form, submit, { title: t("create.title"), className: "dialog--create" });
  if (picker) picker.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldErrors(form, {});
    const record = owner || picker.value();
    const deadline = when.read();
    const problems = {};
    if (!record) problems.owner = t("create.record_required");
    if (when.invalid()) problems.deadline = t("field.datetime_invalid", { pattern: dateFieldPattern() });
    else if (!deadline) problems.deadline = t("create.deadline_required");
    if (Object.keys(problems).length) {
      showFieldErrors(form, problems);
      return;
    }
    const body = {
      owner: { type: record.type, id: Number(record.id) },
      type: form.querySelector('input[name="tp-type"]:checked').value,
      deadline,
    };
    if (Number(responsible.value) !== myId()) body.responsible_id = Number(responsible.value);
    if (title.value.trim()) body.title = title.value.trim();
    if (note.value.trim()) body.note = note.value.trim();
    handle.setBusy(true);
    try {
      const created = await api("POST", "/touchpoints", body);
      handle.close();
      toast(t("create.done", { when: formatDateTime(deadlineMs(created), portalZone()) }), { kind: "success" });
      onDone?.(created);
    } catch (error) {
      handle.setBusy(false);
      const fields = { ...error.fields };
      if (fields["owner.id"] || fields["owner.type"]) fields.owner = fields["owner.id"] || fields["owner.type"];
      error.fields = fields;
      applyServerError(form, error, t("create.failed"));
    }
  });
  return handle;
}

/** Pick a colleague to hand ``touchPoint`` over to. */
export function openHandOverDialog(touchPoint, { onChoose } = {}) {
  const people = userSelect(touchPoint.responsible_id);
  const submit = button(t("handover.submit"), { kind: "primary", type: "submit" });
  const form = h("form", { class: "form", id: nextId("handover") }, h("div", { class: "summary" }, typeBadge(touchPoint.type), ownerView(touchPoint.owner)), field({ label: t("field.responsible"), control: people }));
  const handle = formDialog(form, submit, { title: t("handover.title"), size: "sm" });
  people.focus();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = Number(people.value);
    handle.close();
    if (id !== touchPoint.responsible_id) onChoose?.(id);
  });
}

/** A link that opens the CRM record: BX24.openPath in a frame, a plain link in the demo. */
function crmLink(owner) {
  const link = h("a", { class: "link crm-link", href: "#", dataset: { testid: "open-in-crm" } }, icon("external"), h("span", {}, t("details.open_crm", { type: ownerTypeLabel(owner.type).toLowerCase() })));
  link.addEventListener("click", async (event) => {
    event.preventDefault();
    if (!inFrame()) {
      toast(t("details.crm_demo"), { kind: "info" });
      return;
    }
    const problem = await openPath(crmPath(owner));
    if (problem) toast(t("details.crm_failed"), { kind: "error" });
  });
  return link;
}

function statusBadge(item) {
  return h("span", { class: ["status", `status--${item.status}`] }, t(`status.${item.status}`));
}

/** The chain as a timeline, oldest first; ``currentId`` is marked. */
export function timelineView(items, currentId) {
  const zone = portalZone();
  return h(
    "ol",
    { class: "timeline", dataset: { testid: "timeline" } },
    items.map((item) =>
      h(
        "li",
        { class: ["timeline__item", `timeline__item--${item.status}`, item.id === currentId && "is-current"], "aria-current": item.id === currentId ? "step" : null },
        h("span", { class: "timeline__dot", "aria-hidden": "true" }, icon(item.status === "done" ? "check" : item.type)),
        h(
          "div",
          { class: "timeline__body" },
          h("div", { class: "timeline__head" }, h("strong", {}, typeLabel(item.type)), item.title ? h("span", { class: "timeline__subject" }, item.title) : null, statusBadge(item), h("span", { class: "muted small" }, formatDateTime(deadlineMs(item), zone))),
          item.result_note ? h("blockquote", { class: "timeline__note" }, item.result_note) : null,
          h("div", { class: "muted small" }, personView(item.responsible_id, { compact: true }), item.completed_at ? ` · ${t("details.completed_at", { when: formatDateTime(deadlineMs({ deadline: item.completed_at }), zone) })}` : ""),
        ),
      ),
    ),
  );
}

/**
 * The card details: summary, "open in CRM", the chain timeline, and (for open ones) edit,
 * cancel and complete. ``actions`` receive the touch-point and report changes upward.
 */
export function openDetailsDialog(touchPoint, { onComplete, onChanged } = {}) {
  const zone = portalZone();
  const ms = deadlineMs(touchPoint);
  const open = touchPoint.status === "open";
  const chain = h("div", { class: "chain" }, h("p", { class: "muted" }, t("details.loading_chain")));
  const editor = h("div", { class: "editor", hidden: true });
  const summary = h(
    "dl",
    { class: "facts" },
    h("dt", {}, t("field.record")),
    h("dd", {}, ownerView(touchPoint.owner), h("span", { class: "muted small" }, ` · ${ownerTypeLabel(touchPoint.owner.type)}`), h("br"), crmLink(touchPoint.owner)),
    touchPoint.title ? [h("dt", {}, t("details.subject")), h("dd", { class: "details__subject", dataset: { testid: "details-subject" } }, touchPoint.title)] : null,
    touchPoint.note ? [h("dt", {}, t("details.note")), h("dd", { class: "details__note", dataset: { testid: "details-note" } }, touchPoint.note)] : null,
    h("dt", {}, t("field.type")),
    h("dd", {}, typeLabel(touchPoint.type)),
    h("dt", {}, t("field.deadline")),
    h("dd", {}, formatDateTime(ms, zone, { withYear: true }), h("span", { class: "muted small" }, ` · ${formatRelative(ms)}`)),
    h("dt", {}, t("field.responsible")),
    h("dd", {}, personView(touchPoint.responsible_id)),
    h("dt", {}, t("field.status")),
    h("dd", {}, statusBadge(touchPoint)),
  );
  const body = h("div", { class: "details" }, h("div", { class: "summary" }, typeBadge(touchPoint.type, "lg"), h("div", {}, h("div", { class: "details__title" }, ownerTitle(touchPoint.owner)))), summary, editor, h("h3", { class: "section-title" }, t("details.chain")), chain);

  const footer = [];
  if (open) {
    footer.push(
      button(t("action.cancel_tp"), {
        kind: "link-danger",
        iconName: "trash",
        dataset: { testid: "cancel-tp" },
        onClick: async () => {
          const ok = await confirmDialog({ title: t("cancel.title"), message: t("cancel.message", { title: ownerTitle(touchPoint.owner) }), confirmLabel: t("cancel.confirm") });
          if (!ok) return;
          try {
            await api("DELETE", `/touchpoints/${touchPoint.id}`);
            handle.close();
            toast(t("cancel.done"), { kind: "success" });
            onChanged?.();
          } catch (error) {
            toast(`${t("cancel.failed")} ${errorText(error)}`, { kind: "error" });
          }
        },
      }),
      h("span", { class: "spacer" }),
      button(t("action.edit"), { kind: "light", iconName: "edit", dataset: { testid: "edit-tp" }, onClick: () => showEditor() }),
      button(t("action.complete"), {
        kind: "success",
        iconName: "check",
        onClick: () => {
          handle.close();
          onComplete?.(touchPoint);
        },
      }),
    );
  } else {
    footer.push(h("span", { class: "spacer" }), button(t("action.close"), { onClick: () => handle.close() }));
  }
  // A side panel in the demo; in a frame (where no slider could open) next to the click, since
  // "fixed to the viewport" there means the top of a tall frame.
  const handle = openDialog({ title: t("details.title"), body, footer, size: "lg", className: inFrame() ? "dialog--details" : "dialog--details dialog--side" });

  function showEditor() {
    const when = deadlineInputs({ ms });
    const people = userSelect(touchPoint.responsible_id);
    const save = button(t("action.save"), { kind: "primary", type: "submit" });
    const form = h(
      "form",
      { class: "form editor__form", noValidate: true },
      h("div", { class: "row" }, when.node, field({ label: t("field.responsible"), control: people, name: "responsible_id" })),
      h("div", { class: "row row--end" }, button(t("action.cancel"), { onClick: () => (editor.hidden = true) }), save),
    );
    editor.replaceChildren(h("h3", { class: "section-title" }, t("details.edit")), form);
    editor.hidden = false;
    when.date.focus();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showFieldErrors(form, {});
      if (when.invalid()) {
        showFieldErrors(form, { deadline: t("field.datetime_invalid", { pattern: dateFieldPattern() }) });
        when.date.focus();
        return;
      }
      const patch = {};
      const deadline = when.read();
      if (deadline && deadlineMsOf(deadline) !== ms) patch.deadline = deadline;
      if (Number(people.value) !== touchPoint.responsible_id) patch.responsible_id = Number(people.value);
      if (!Object.keys(patch).length) {
        editor.hidden = true;
        return;
      }
      save.disabled = true;
      try {
        const { undo } = await patchWithUndo(`/touchpoints/${touchPoint.id}`, patch);
        handle.close();
        undoToast(t("edit.done"), undo, { onUndone: () => onChanged?.() });
        onChanged?.();
      } catch (error) {
        save.disabled = false;
        applyServerError(form, error, t("edit.failed"));
      }
    });
  }

  api("GET", `/touchpoints/${touchPoint.id}/chain`)
    .then((answer) => chain.replaceChildren(timelineView(answer.items || [], touchPoint.id)))
    .catch((error) => chain.replaceChildren(h("p", { class: "muted" }, `${t("details.chain_failed")} ${errorText(error)}`)));
  return handle;
}

/**
 * The details (and their editor) of ``touchPoint``: inside the portal in a Bitrix24 slider
 * (BX24.openApplication, BITRIX24.md §22.4), which runs the app again for that view; in the
 * demo, and where no slider can open, a side panel. ``onChanged`` also runs when the slider
 * closes, since what was done there is not known here.
 */
export function openDetails(touchPoint, { onComplete, onChanged } = {}) {
  if (slidersAvailable(app.placement) && openSlider({ view: "details", id: touchPoint.id }, { title: ownerTitle(touchPoint.owner), onClose: () => onChanged?.() })) return null;
  return openDetailsDialog(touchPoint, { onComplete, onChanged });
}

/** Move ``touchPoint`` to another date and time (the timeline menu's "Reschedule"). */
export function openRescheduleDialog(touchPoint, { onDone } = {}) {
  const when = deadlineInputs({ ms: deadlineMs(touchPoint) });
  const submit = button(t("action.save"), { kind: "primary", type: "submit", dataset: { testid: "reschedule-submit" } });
  const form = h(
    "form",
    { class: "form", noValidate: true, id: nextId("reschedule-form") },
    h("div", { class: "summary" }, typeBadge(touchPoint.type), h("div", { class: "summary__text" }, ownerView(touchPoint.owner), subjectView(touchPoint))),
    when.node,
  );
  const handle = formDialog(form, submit, { title: t("reschedule.title"), className: "dialog--reschedule" });
  when.date.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldErrors(form, {});
    const deadline = when.read();
    if (when.invalid() || !deadline) {
      showFieldErrors(form, { deadline: when.invalid() ? t("field.datetime_invalid", { pattern: dateFieldPattern() }) : t("create.deadline_required") });
      when.date.focus();
      return;
    }
    handle.setBusy(true);
    try {
      const { body: moved, undo } = await patchWithUndo(`/touchpoints/${touchPoint.id}`, { deadline });
      handle.close();
      undoToast(t("reschedule.done", { when: formatDateTime(deadlineMs(moved), portalZone()) }), undo, { onUndone: () => onDone?.(moved) });
      onDone?.(moved);
    } catch (error) {
      handle.setBusy(false);
      applyServerError(form, error, t("edit.failed"));
    }
  });
  return handle;
}
