// Bitrix24 frame integration through BX24.js (BITRIX24.md §16.1). Outside a frame (the demo,
// or the page opened on its own) every function degrades to a harmless fallback.

const BX24_URL = "https://api.bitrix24.com/api/v1/";
const INIT_TIMEOUT_MS = 8000;

let ready = false;

/** True once BX24.init has called back. */
export function inFrame() {
  return ready;
}

function loadScript(nonce) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = BX24_URL;
    script.async = true;
    if (nonce) script.nonce = nonce;
    script.addEventListener("load", resolve, { once: true });
    script.addEventListener("error", () => reject(new Error("BX24.js did not load")), { once: true });
    document.head.append(script);
  });
}

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms))]);
}

/**
 * Load BX24.js and wait for BX24.init, but only when the page really is inside a frame and
 * not the demo; resolves to whether the frame API is usable. Never rejects.
 */
export async function initFrame({ demo }) {
  if (demo || window.top === window) return false;
  try {
    const nonce = document.querySelector("script[nonce]")?.nonce || "";
    await withTimeout(loadScript(nonce), INIT_TIMEOUT_MS);
    await withTimeout(new Promise((resolve) => window.BX24.init(resolve)), INIT_TIMEOUT_MS);
    ready = true;
    watchHeight();
  } catch {
    ready = false;
  }
  return ready;
}

let fitQueued = false;
let lastHeight = 0;
const MIN_FRAME_HEIGHT = 640;

function contentHeight() {
  const app = document.getElementById("app");
  let bottom = app ? app.getBoundingClientRect().bottom + window.scrollY : document.body.scrollHeight;
  // Dialogs, menus and toasts sit on top of the content; the frame must be tall enough for them.
  for (const layer of document.querySelectorAll("dialog[open], .menu, .toasts")) {
    bottom = Math.max(bottom, layer.getBoundingClientRect().bottom + window.scrollY + 16);
  }
  return Math.max(MIN_FRAME_HEIGHT, Math.ceil(bottom));
}

/**
 * Size the frame to the content, growing and shrinking. BX24.fitWindow can only grow a frame
 * (so its documentation says), so this measures the app and calls BX24.resizeWindow instead.
 */
function fitWindow() {
  if (!ready || fitQueued) return;
  fitQueued = true;
  requestAnimationFrame(() => {
    fitQueued = false;
    const height = contentHeight();
    if (Math.abs(height - lastHeight) < 2) return;
    lastHeight = height;
    window.BX24.resizeWindow("100%", height);
  });
}

function watchHeight() {
  document.body.classList.add("in-frame");
  fitWindow();
  if (typeof ResizeObserver === "function") new ResizeObserver(fitWindow).observe(document.getElementById("app") || document.body);
  // Dialogs, menus and toasts are not inside #app; they change the needed height too.
  new MutationObserver(fitWindow).observe(document.body, { childList: true });
}

/** The CRM card's path in the portal, e.g. /crm/deal/details/314/ (BITRIX24.md §16.1), or
 * /crm/type/1046/details/7/ for a smart process's item (§22.3). */
export function crmPath(owner) {
  const dynamic = /^dynamic_(\d+)$/.exec(owner.type);
  if (dynamic) return `/crm/type/${dynamic[1]}/details/${owner.id}/`;
  return `/crm/${owner.type}/details/${owner.id}/`;
}

/** Open a portal page in a Bitrix24 slider; resolves to an error code or null. */
export function openPath(path) {
  if (!ready) return Promise.resolve("NOT_IN_FRAME");
  return new Promise((resolve) => {
    window.BX24.openPath(path, (result) => {
      resolve(result && result.result === "error" ? result.errorCode || "PATH_NOT_AVAILABLE" : null);
    });
  });
}

/** Fresh frame auth for POST /session/renew: {auth_id, member_id}. */
export async function frameAuth() {
  if (!ready) throw new Error("not in a Bitrix24 frame");
  let auth = window.BX24.getAuth();
  if (!auth) {
    const refreshed = await new Promise((resolve) => window.BX24.refreshAuth(resolve));
    auth = window.BX24.getAuth() || refreshed;
  }
  if (!auth || !auth.access_token) throw new Error("Bitrix24 gave no auth");
  return { auth_id: auth.access_token, member_id: auth.member_id };
}

/** Bitrix24's own employee picker; resolves to [{id, name}] (empty when cancelled). */
export function selectUsers() {
  if (!ready) return Promise.resolve([]);
  return new Promise((resolve) => {
    window.BX24.selectUsers((users) => resolve(Array.isArray(users) ? users : []));
  });
}

// reloadData is documented for card tabs, card activities and list menus; elsewhere (the
// timeline menu) only the placement's own interface can say (BITRIX24.md §22.4, §22.7).
const RELOADS_DATA = /^CRM_\w+_(DETAIL_TAB|DETAIL_ACTIVITY|LIST_MENU)$/;

function placementCommands(placement) {
  if (typeof placement.getInterface !== "function") return Promise.resolve([]);
  const commands = new Promise((resolve) => placement.getInterface((result) => resolve(Array.isArray(result?.command) ? result.command : [])));
  return withTimeout(commands, 1500).catch(() => []);
}

/**
 * Ask the open CRM card or list to show a change we made (BX24.placement.call('reloadData')),
 * where the placement supports it; resolves to whether it was asked. Never rejects.
 */
export async function reloadCard(placementCode) {
  const placement = ready ? window.BX24?.placement : null;
  if (typeof placement?.call !== "function") return false;
  const supported = RELOADS_DATA.test(placementCode || "") || (await placementCommands(placement)).includes("reloadData");
  // The callback of an unsupported command never fires, so nothing waits for it.
  if (supported) placement.call("reloadData", {}, () => {});
  return supported;
}

/** Close the slider Bitrix24 opened the app in (the list menu's); false outside a frame. */
export function closeSlider() {
  if (!ready || typeof window.BX24?.closeApplication !== "function") return false;
  window.BX24.closeApplication();
  return true;
}

/**
 * Bitrix24's own employee picker (BX24.selectUser, BITRIX24.md §22.4); resolves to
 * {id, name} with a numeric id, or null when cancelled (the callback then never fires, so a
 * later pick resolves a later promise) or outside a frame.
 */
export function selectUser() {
  if (!ready || typeof window.BX24?.selectUser !== "function") return Promise.resolve(null);
  return new Promise((resolve) => {
    window.BX24.selectUser((user) => {
      const id = Number(user?.id);
      resolve(Number.isInteger(id) && id > 0 ? { id, name: String(user.name || "") } : null);
    });
  });
}

// What the app passes to itself through BX24.openApplication; the opened window finds it in
// its PLACEMENT_OPTIONS (BITRIX24.md §22.4). The launch keeps only the options of the
// placements it knows, so the page reads them back from BX24.placement.info().
const SLIDER_KEY = "tp_view";

/** Whether details and editors can open in a Bitrix24 slider (blocked in list menus, §22.4). */
export function slidersAvailable(placementCode) {
  return ready && typeof window.BX24?.openApplication === "function" && !/_LIST_MENU$/.test(placementCode || "");
}

/**
 * Open the app itself in a Bitrix24 slider showing ``view`` (e.g. {view: "details", id: 7});
 * ``onClose`` runs when the slider closes. Returns false when no slider can open.
 */
export function openSlider(view, { title, width = 900, onClose } = {}) {
  if (!ready || typeof window.BX24?.openApplication !== "function") return false;
  const params = { [SLIDER_KEY]: view.view, id: String(view.id) };
  window.BX24.openApplication(params, () => onClose?.(), { width, title });
  return true;
}

/** The view this page was opened for by openSlider, or null: {view, id}. */
export function sliderView(launchOptions) {
  const info = ready && typeof window.BX24?.placement?.info === "function" ? window.BX24.placement.info() : null;
  const options = info?.options && typeof info.options === "object" ? info.options : launchOptions || {};
  const id = Number.parseInt(options[SLIDER_KEY] ? options.id : "", 10);
  return options[SLIDER_KEY] === "details" && id > 0 ? { view: "details", id } : null;
}
