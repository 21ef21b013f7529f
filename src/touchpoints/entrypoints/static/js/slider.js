// The app opened by itself in a Bitrix24 slider (BX24.openApplication, BITRIX24.md §22.4):
// one touch-point's details and editors; the slider closes when the last dialog does.

import { api } from "./api.js";
import { closeSlider } from "./bx.js";
import { openCompleteDialog, openDetailsDialog } from "./dialogs.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { errorText } from "./state.js";

export async function mountSlider(root, view) {
  replace(root, h("div", { class: "slider-view", dataset: { testid: "slider-view" } }));
  // Dialogs are appended to <body> and removed when closed: once none is left, neither the
  // details nor an editor opened from them (complete) is, and the slider has done its work.
  new MutationObserver(() => {
    if (!document.querySelector("dialog")) closeSlider();
  }).observe(document.body, { childList: true });
  try {
    const touchPoint = await api("GET", `/touchpoints/${view.id}`);
    openDetailsDialog(touchPoint, { onComplete: (item) => openCompleteDialog(item) });
  } catch (error) {
    replace(root, h("div", { class: "empty-state", role: "alert" }, h("p", {}, t("details.title")), h("p", { class: "muted" }, errorText(error))));
  }
}
