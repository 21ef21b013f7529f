// The JSON API client. The app session lives in memory only (never cookies or storage) and
// is renewed with fresh frame auth when the server answers 401 SESSION_EXPIRED (DESIGN.md §3.3).

const BASE = "/api/v1";
const TIMEOUT_MS = 35000;

let session = null;
let renewer = null;
let renewal = null;

/** A refused or failed API call: HTTP status, machine code, human message, offending fields. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.code || (status ? `HTTP_${status}` : "NETWORK");
    this.fields = body?.fields || {};
    this.serverMessage = body?.message || "";
  }
}

/** Take the session token from the page's meta tag and drop the tag from the DOM. */
export function takeSession() {
  const meta = document.querySelector('meta[name="tp-session"]');
  session = meta?.getAttribute("content") || null;
  meta?.remove();
  return Boolean(session);
}

/** ``fn`` returns the JSON body for POST /session/renew (frame auth or the demo user). */
export function setRenewer(fn) {
  renewer = fn;
}

async function send(method, path, body, { raw = false } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const headers = { Accept: "application/json" };
  if (session) headers.Authorization = `Bearer ${session}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    return await fetch(`${BASE}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal,
    });
  } catch (error) {
    throw new ApiError(0, { code: error?.name === "AbortError" ? "TIMEOUT" : "NETWORK" });
  } finally {
    clearTimeout(timer);
  }
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body);
}

async function renew() {
  if (!renewer) throw new ApiError(401, { code: "SESSION_EXPIRED" });
  renewal ??= (async () => {
    try {
      const credentials = await renewer();
      const response = await send("POST", "/session/renew", credentials);
      if (!response.ok) throw await errorOf(response);
      const answer = await response.json();
      session = answer.session;
    } finally {
      renewal = null;
    }
  })();
  return renewal;
}

async function call(method, path, body) {
  let response = await send(method, path, body);
  if (response.status === 401) {
    const error = await errorOf(response);
    if (error.code !== "SESSION_EXPIRED") throw error;
    await renew();
    response = await send(method, path, body);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** Call the API and return its JSON answer (null for 204). Raises ApiError. */
export async function api(method, path, body) {
  const response = await call(method, path, body);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** Call the API and return its JSON answer with the response headers (e.g. ``X-Undo-Token``). */
export async function apiWithHeaders(method, path, body) {
  const response = await call(method, path, body);
  const text = response.status === 204 ? "" : await response.text();
  return { body: text ? JSON.parse(text) : null, headers: response.headers };
}

/** Call the API for a file download: the body as a Blob and the server's file name. */
export async function apiDownload(path) {
  const response = await call("GET", path);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  return { blob: await response.blob(), filename: match ? decodeURIComponent(match[1]) : null };
}

/** A query string from the non-empty values of ``params``. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
