// Undo for moves, reassignments, bulk actions and sweeps (DESIGN.md §3.6): a toast that keeps its
// Undo button for as long as the server keeps the token (at least 10 minutes), and works once.

import { api, apiWithHeaders } from "./api.js";
import { h } from "./dom.js";
import { t, tn } from "./i18n.js";
import { errorText } from "./state.js";
import { announce, toast } from "./ui.js";

/** Keep the Undo offer a little under the server's 10 minutes, never past ``expires_at``. */
const UNDO_MS = 10 * 60 * 1000;

/** The undo token of a single PATCH (its ``X-Undo-Token`` header), or null. */
export async function patchWithUndo(path, patch) {
  const { body, headers } = await apiWithHeaders("PATCH", path, patch);
  const token = headers.get("X-Undo-Token");
  return { body, undo: token ? { token, expires_at: null } : null };
}

function failureList(failed) {
  if (!failed?.length) return null;
  return h(
    "ul",
    { class: "toast__failures", dataset: { testid: "toast-failures" } },
    failed.slice(0, 5).map((item) => h("li", {}, t("bulk.failed_item", { id: item.id, message: item.message || item.code }))),
    failed.length > 5 ? h("li", {}, t("bulk.failed_more", { count: failed.length - 5 })) : null,
  );
}

/**
 * A toast saying ``message`` with an Undo button for ``undo`` ({token, expires_at} or null);
 * ``failed`` lists items that were not done. ``onUndone`` runs after a successful undo.
 */
export function undoToast(message, undo, { failed = [], onUndone, kind = "success" } = {}) {
  let timeout = 6000;
  if (undo?.token) {
    const until = undo.expires_at ? Date.parse(undo.expires_at) - Date.now() : UNDO_MS;
    timeout = Math.max(UNDO_MS, Number.isFinite(until) ? until - 5000 : UNDO_MS);
  }
  if (failed.length) timeout = undo?.token ? timeout : 0;
  const item = toast(message, { kind: failed.length ? "error" : kind, timeout });
  item.dataset.testid = "undo-toast";
  const text = item.querySelector(".toast__text");
  const list = failureList(failed);
  if (list) text.append(list);
  if (!undo?.token) return item;
  const undoButton = h("button", { type: "button", class: "toast__undo", dataset: { testid: "undo" } }, t("undo.action"));
  undoButton.addEventListener("click", async () => {
    undoButton.disabled = true;
    try {
      const answer = await api("POST", "/undo", { token: undo.token });
      undoButton.remove();
      const skipped = (answer?.failed || []).filter((entry) => entry.code === "CHANGED_SINCE");
      const others = (answer?.failed || []).filter((entry) => entry.code !== "CHANGED_SINCE");
      const done = answer?.done?.length ?? 0;
      let said = tn("undo.done", done);
      if (skipped.length) said += ` ${tn("undo.skipped", skipped.length)}`;
      item.querySelector(".toast__text").replaceChildren(said);
      if (skipped.length || others.length) item.querySelector(".toast__text").append(failureList([...skipped, ...others]));
      announce(said);
      await onUndone?.(answer);
    } catch (error) {
      undoButton.remove();
      const said = error.status === 409 ? t("undo.used") : `${t("undo.failed")} ${errorText(error)}`;
      item.querySelector(".toast__text").replaceChildren(said);
      announce(said);
    }
  });
  text.after(undoButton);
  return item;
}
