// Shared widgets: panels, buttons, form fields, modal dialogs, pop-up menus, toasts, announcements.

import { inFrame } from "./bx.js";
import { h, icon, nextId } from "./dom.js";
import { currentLanguage, dateFieldPattern, formatDateField, parseDateField, t } from "./i18n.js";

/** A panel: a `tag` element (a section unless given) labelled by its `<h2>` title, then the children. */
export function panel({ id, title, tag = "section", ...props }, ...children) {
  return h(tag, { class: "panel", "aria-labelledby": id, ...props }, h("h2", { class: "panel__title", id }, title), ...children);
}

/** A Bitrix24-style button. kind: primary | success | light | danger | link | icon. */
export function button(label, { kind = "light", iconName, onClick, type = "button", size, ...rest } = {}) {
  const classes = ["btn", `btn--${kind}`, size && `btn--${size}`];
  return h(
    "button",
    { type, class: classes, on: onClick ? { click: onClick } : undefined, ...rest },
    iconName ? icon(iconName) : null,
    kind === "icon" ? null : h("span", { class: "btn__label" }, label),
  );
}

/** A labelled form field with a hint and a slot for the server's validation message. */
export function field({ label, control, hint, name, required = false, className }) {
  if (!control.id) control.id = nextId("field");
  const error = h("p", { class: "field__error", id: `${control.id}-error`, hidden: true });
  if (name) error.dataset.errorFor = name;
  const describedBy = [error.id];
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "field__hint", id: `${control.id}-hint` }, hint);
    describedBy.push(hintEl.id);
  }
  control.setAttribute("aria-describedby", describedBy.join(" "));
  return h(
    "div",
    { class: ["field", className] },
    label ? h("label", { class: "field__label", htmlFor: control.id }, label, required ? h("span", { class: "field__required", "aria-hidden": "true" }, " *") : null) : null,
    control,
    hintEl,
    error,
  );
}

/**
 * A date field written the way the UI's language writes dates (en "12/3/2026", ru
 * "03.12.2026"), ISO typed in also understood. Native date inputs follow the browser's locale
 * instead of the UI's, so one is kept out of sight only to lend its calendar to the button.
 * ``onChange`` gets "YYYY-MM-DD" (or null when cleared or unreadable).
 */
export function dateField({ value = null, testid, label, className, onChange, min, max } = {}) {
  const lang = currentLanguage();
  const input = h("input", { type: "text", class: ["input", "input--date-text", className], lang, inputMode: "numeric", autocomplete: "off", placeholder: dateFieldPattern(), dataset: testid ? { testid } : undefined });
  const native = h("input", { type: "date", class: "datetime__native", tabIndex: -1, "aria-hidden": "true", min: min || undefined, max: max || undefined });
  const pick = h(
    "button",
    {
      type: "button",
      class: "datetime__pick",
      title: t("field.pick_date"),
      "aria-label": t("field.pick_date"),
      dataset: testid ? { testid: `${testid}-pick` } : undefined,
      on: {
        click: () => {
          native.value = parseDateField(input.value) || "";
          try {
            native.showPicker();
          } catch {
            native.focus();
          }
        },
      },
    },
    icon("calendar"),
  );
  if (label) input.setAttribute("aria-label", `${label} (${dateFieldPattern()})`);
  const set = (day) => {
    input.value = day ? formatDateField(day) : "";
  };
  set(value);
  let last = value || null;
  const changed = () => {
    const day = parseDateField(input.value);
    if (day === last) return;
    last = day;
    onChange?.(day);
  };
  native.addEventListener("change", () => {
    if (!native.value) return;
    set(native.value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
  // A complete date applies as soon as it is typed (the year comes last in both languages).
  input.addEventListener("input", () => {
    if (parseDateField(input.value)) changed();
  });
  // Typed loosely ("3.12.2026", "2026-12-03"): shown back the language's way once left.
  input.addEventListener("change", () => {
    const day = parseDateField(input.value);
    if (day) set(day);
    changed();
  });
  return {
    node: h("span", { class: "datetime__date" }, input, pick, native),
    input,
    set,
    /** "YYYY-MM-DD", or null when empty or unreadable. */
    read: () => parseDateField(input.value),
    /** Whether something was typed that is no date. */
    invalid: () => input.value.trim() !== "" && parseDateField(input.value) === null,
  };
}

/** Show (or clear, with {}) per-field messages inside ``scope``; returns whether any matched. */
export function showFieldErrors(scope, fields) {
  let matched = false;
  for (const slot of scope.querySelectorAll("[data-error-for]")) {
    const message = fields?.[slot.dataset.errorFor];
    slot.hidden = !message;
    slot.textContent = message || "";
    const control = scope.querySelector(`#${CSS.escape(slot.id.replace(/-error$/, ""))}`);
    if (control) control.toggleAttribute("aria-invalid", Boolean(message));
    if (message) matched = true;
  }
  return matched;
}

function select(options, { value, ...props } = {}) {
  const el = h(
    "select",
    { class: "input", ...props },
    options.map((option) => h("option", { value: String(option.value), selected: String(option.value) === String(value) }, option.label)),
  );
  return el;
}
export { select };

// In a Bitrix24 frame the frame is as tall as the content and the parent page scrolls, so
// "fixed to the viewport" means "somewhere on a long page". There, dialogs and toasts open
// next to where the user last clicked or focused, which is on their screen.
let lastY = 0;
for (const type of ["pointerdown", "focusin"]) {
  document.addEventListener(
    type,
    (event) => {
      if (event.target instanceof Element && !event.target.closest(".toasts, dialog")) {
        lastY = event.clientY || event.target.getBoundingClientRect().top;
      }
    },
    true,
  );
}

function nearInteraction(el, property, offset) {
  if (!inFrame()) return;
  el.style.setProperty(property, `${Math.max(16, Math.round(lastY + offset))}px`);
}

function toasts() {
  const region = document.querySelector(".toasts") || document.body.appendChild(h("div", { class: "toasts" }));
  nearInteraction(region, "--toast-top", 40);
  return region;
}

/**
 * An error shown inside the open dialog, above its form: a modal makes everything behind it
 * inert, so a toast there could be neither read whole nor closed (nor announced). It stays
 * until closed or the dialog goes; a newer message replaces it.
 */
function dialogAlert(dialog, message) {
  const slot = dialog.querySelector(".dialog__alerts");
  const item = h(
    "div",
    { class: "dialog-alert", role: "alert", dataset: { testid: "dialog-error" } },
    icon("close", "dialog-alert__icon"),
    h("div", { class: "dialog-alert__text" }, message),
    h("button", { type: "button", class: "dialog-alert__close", "aria-label": t("dialog.error_close"), on: { click: () => { item.remove(); dialog.querySelector(".dialog__body input, .dialog__body textarea, .dialog__body select")?.focus(); } } }, icon("close")),
  );
  slot.replaceChildren(item);
  item.scrollIntoView({ block: "nearest" });
  return item;
}

/** A short notification. kind: info | success | error. Errors stay until closed. */
export function toast(message, { kind = "info", timeout } = {}) {
  const modal = [...document.querySelectorAll("dialog[open]")].pop();
  if (kind === "error" && modal?.querySelector(".dialog__alerts")) return dialogAlert(modal, message);
  const close = () => {
    item.classList.add("toast--leaving");
    setTimeout(() => item.remove(), 200);
  };
  const item = h(
    "div",
    { class: ["toast", `toast--${kind}`], role: kind === "error" ? "alert" : "status" },
    icon(kind === "error" ? "close" : kind === "success" ? "check" : "clock", "toast__icon"),
    h("div", { class: "toast__text" }, message),
    h("button", { type: "button", class: "toast__close", "aria-label": t("action.close"), on: { click: close } }, icon("close")),
  );
  toasts().append(item);
  const ms = timeout ?? (kind === "error" ? 9000 : 4500);
  if (ms > 0) setTimeout(close, ms);
  return item;
}

/** Tell screen-reader users what just happened. */
export function announce(text) {
  let region = document.getElementById("tp-live");
  if (!region) {
    region = h("div", { id: "tp-live", class: "visually-hidden", "aria-live": "polite", role: "status" });
    document.body.append(region);
  }
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

/**
 * A modal dialog (native <dialog>). ``body`` and ``footer`` are nodes. Returns {dialog, close,
 * setBusy}. Escape and the close button dismiss it; focus returns to where it was.
 */
export function openDialog({ title, body, footer, size = "md", onClose, className }) {
  const opener = document.activeElement;
  const titleId = nextId("dialog-title");
  const dialog = h(
    "dialog",
    { class: ["dialog", `dialog--${size}`, className], "aria-labelledby": titleId },
    h(
      "div",
      { class: "dialog__header" },
      h("h2", { class: "dialog__title", id: titleId }, title),
      h("button", { type: "button", class: "dialog__close", "aria-label": t("action.close"), on: { click: () => close() } }, icon("close")),
    ),
    h("div", { class: "dialog__body" }, h("div", { class: "dialog__alerts" }), body),
    footer ? h("div", { class: "dialog__footer" }, footer) : null,
  );
  let closed = false;
  function close(result) {
    if (closed) return;
    closed = true;
    dialog.close();
    dialog.remove();
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
    onClose?.(result);
  }
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    if (!dialog.classList.contains("is-busy")) close();
  });
  document.body.append(dialog);
  nearInteraction(dialog, "--dialog-top", -120);
  dialog.showModal();
  const first = dialog.querySelector("[autofocus]") || dialog.querySelector(".dialog__body input, .dialog__body textarea, .dialog__body select, .dialog__body button");
  first?.focus();
  return {
    dialog,
    close,
    setBusy(busy) {
      dialog.classList.toggle("is-busy", busy);
      for (const control of dialog.querySelectorAll(".dialog__footer button")) control.disabled = busy;
    },
  };
}

/**
 * A dialog around ``form`` with Cancel and ``submit`` (which submits the form from the footer);
 * the other options are openDialog's. Returns openDialog's handle.
 */
export function formDialog(form, submit, { cancelKind = "light", ...options }) {
  if (!form.id) form.id = nextId("form");
  submit.setAttribute("form", form.id);
  const handle = openDialog({ ...options, body: form, footer: [button(t("action.cancel"), { kind: cancelKind, onClick: () => handle.close() }), submit] });
  return handle;
}

/** Ask before something that cannot be undone; resolves to true when confirmed. */
export function confirmDialog({ title, message, confirmLabel, cancelLabel = t("action.back"), danger = true, details }) {
  return new Promise((resolve) => {
    let answer = false;
    const ok = button(confirmLabel, {
      kind: danger ? "danger" : "primary",
      onClick: () => {
        answer = true;
        handle.close();
      },
    });
    const handle = openDialog({
      title,
      size: "sm",
      body: h("div", { class: "confirm" }, h("p", {}, message), details || null),
      footer: [button(cancelLabel, { kind: "light", onClick: () => handle.close() }), ok],
      onClose: () => resolve(answer),
    });
    ok.focus();
  });
}

let openMenuState = null;

function closeMenu({ restoreFocus = true } = {}) {
  if (!openMenuState) return;
  const { menu, anchor, onDocument } = openMenuState;
  openMenuState = null;
  menu.remove();
  document.removeEventListener("pointerdown", onDocument, true);
  anchor.setAttribute("aria-expanded", "false");
  if (restoreFocus && anchor.isConnected) anchor.focus();
}

/**
 * A pop-up menu next to ``anchor``. Items: {label, iconName, onSelect, danger, disabled},
 * {group: "heading"} or "separator". Arrow keys move, Enter picks, Escape closes.
 */
export function openMenu(anchor, items, { label } = {}) {
  closeMenu({ restoreFocus: false });
  const menu = h("div", { class: "menu", role: "menu", "aria-label": label || null });
  for (const item of items) {
    if (item === "separator") {
      menu.append(h("div", { class: "menu__separator", role: "separator" }));
    } else if (item.group) {
      menu.append(h("div", { class: "menu__group", role: "presentation" }, item.group));
    } else {
      menu.append(
        h(
          "button",
          {
            type: "button",
            role: "menuitem",
            class: ["menu__item", item.danger && "menu__item--danger"],
            disabled: Boolean(item.disabled),
            tabIndex: -1,
            dataset: item.key ? { key: item.key } : undefined,
            on: {
              click: () => {
                closeMenu({ restoreFocus: item.restoreFocus !== false });
                item.onSelect?.();
              },
            },
          },
          item.iconName ? icon(item.iconName) : h("span", { class: "icon icon--blank" }),
          h("span", {}, item.label),
        ),
      );
    }
  }
  const entries = () => [...menu.querySelectorAll(".menu__item:not(:disabled)")];
  menu.addEventListener("keydown", (event) => {
    const list = entries();
    const index = list.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      list[(index + step + list.length) % list.length]?.focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      (event.key === "Home" ? list[0] : list[list.length - 1])?.focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closeMenu();
    } else if (event.key === "Tab") {
      closeMenu();
    }
  });
  const onDocument = (event) => {
    if (!menu.contains(event.target) && event.target !== anchor && !anchor.contains(event.target)) {
      closeMenu({ restoreFocus: false });
    }
  };
  document.addEventListener("pointerdown", onDocument, true);
  (anchor.closest("dialog") || document.body).append(menu);
  anchor.setAttribute("aria-expanded", "true");
  openMenuState = { menu, anchor, onDocument };
  position(menu, anchor);
  entries()[0]?.focus();
  return { close: closeMenu };
}

function position(menu, anchor) {
  const rect = anchor.getBoundingClientRect();
  const width = menu.offsetWidth;
  const height = menu.offsetHeight;
  let left = rect.right - width;
  if (left < 8) left = Math.min(rect.left, window.innerWidth - width - 8);
  let top = rect.bottom + 4;
  if (top + height > window.innerHeight - 8 && rect.top - height - 4 > 8) top = rect.top - height - 4;
  // Neither below nor above has room: keep the whole menu on screen (it scrolls when taller).
  else if (top + height > window.innerHeight - 8) top = window.innerHeight - height - 8;
  menu.style.setProperty("left", `${Math.max(8, left)}px`);
  menu.style.setProperty("top", `${Math.max(8, top)}px`);
}

/** Whether a pop-up menu is open (the board ignores its own shortcuts meanwhile). */
export function menuIsOpen() {
  return openMenuState !== null;
}
