// Tiny DOM helpers: elements are built from data with textContent, never from HTML strings.

const SVG_NS = "http://www.w3.org/2000/svg";
const SPRITE = new URL("../icons/sprite.svg", import.meta.url);

/**
 * Build an element: h("button", {class: "btn", on: {click}}, "Save").
 * Props: class (string or array), dataset, on (event handlers), text; aria-, data- and role as
 * attributes, anything the element has as a property (value, checked, disabled...) as a property.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (key === "text") {
      el.textContent = value;
    } else if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || !(key in el)) {
      el.setAttribute(key, value === true ? "" : String(value));
    } else {
      el[key] = value;
    }
  }
}

/** Append children, flattening arrays and skipping null/false; strings become text nodes. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Make ``children`` (flattened, null/false skipped) the children of ``el``, moving as little as
 * possible: the nodes that stay, in the same order, are never taken out of the document, so
 * they keep their layout, focus and scroll position.
 */
export function reconcile(el, ...children) {
  const wanted = children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false).map((child) => (child instanceof Node ? child : document.createTextNode(String(child))));
  const kept = new Set(wanted);
  for (const child of [...el.childNodes]) if (!kept.has(child)) child.remove();
  let at = el.firstChild;
  for (const node of wanted) {
    if (node === at) at = at.nextSibling;
    else el.insertBefore(node, at);
  }
  return el;
}

/** Replace all children of ``el``. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** One drawn <svg> per icon name, cloned for every icon (see loadIcons). */
const ICONS = new Map();

/**
 * Read the icon sprite once and keep each symbol as a ready <svg> to clone. A clone is plain
 * inline SVG: unlike a <use href="#id"> reference it needs no shadow instance tree per icon,
 * which is most of the style and layout work of a board with hundreds of cards. Parsed as
 * XML, never as HTML.
 */
export async function loadIcons() {
  try {
    const response = await fetch(SPRITE, { credentials: "same-origin" });
    if (!response.ok) return;
    const parsed = new DOMParser().parseFromString(await response.text(), "image/svg+xml");
    if (parsed.documentElement.nodeName !== "svg") return;
    for (const symbol of parsed.documentElement.querySelectorAll("symbol[id^='tp-icon-']")) {
      const svg = document.createElementNS(SVG_NS, "svg");
      svg.setAttribute("viewBox", symbol.getAttribute("viewBox") || "0 0 24 24");
      svg.setAttribute("aria-hidden", "true");
      svg.setAttribute("focusable", "false");
      for (const child of symbol.childNodes) svg.append(document.importNode(child, true));
      ICONS.set(symbol.id.slice("tp-icon-".length), svg);
    }
  } catch {
    // Without the sprite the icons stay blank; every control also has a text label.
  }
}

/** An icon from the sprite (decorative: controls carry their own text or aria-label). */
export function icon(name, className = "") {
  const drawn = ICONS.get(name);
  const svg = drawn ? drawn.cloneNode(true) : document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", `icon icon--${name} ${className}`.trim());
  if (!drawn) {
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
  }
  return svg;
}

let uid = 0;
/** A document-unique id for label/aria wiring. */
export function nextId(prefix = "tp") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** Call ``fn`` at most once per ``ms`` after the last call. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const COLORS = ["#2fc6f6", "#9dcf00", "#ffa900", "#ff5752", "#a77bde", "#55d0e0", "#e57ba7", "#1fc7b0"];

/** A round avatar: the user's photo, or their initials on a colour picked from their id. */
export function avatar(user, size = "md") {
  const name = user?.name || "?";
  if (user?.photo) {
    return h("img", {
      class: `avatar avatar--${size}`,
      src: user.photo,
      alt: "",
      loading: "lazy",
      draggable: false,
      referrerPolicy: "no-referrer",
    });
  }
  const initials = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");
  const el = h("span", { class: `avatar avatar--${size} avatar--initials`, "aria-hidden": "true" }, initials || "?");
  el.style.setProperty("--avatar-bg", COLORS[Math.abs(Number(user?.id) || 0) % COLORS.length]);
  return el;
}
