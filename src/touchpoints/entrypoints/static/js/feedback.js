// The always-available feedback button: a message, an optional e-mail, then thanks.

import { api } from "./api.js";
import { h, icon } from "./dom.js";
import { formatNumber, t } from "./i18n.js";
import { errorText } from "./state.js";
import { button, field, openDialog, showFieldErrors, toast } from "./ui.js";

const MESSAGE_MAX = 5000;

/**
 * The feedback button: floating in a normal tab; in the Bitrix24 frame (sized to its content,
 * so a fixed button would sit at the very bottom) it lives in the top bar instead.
 */
export function feedbackButton({ inline = false } = {}) {
  return h(
    "button",
    { type: "button", class: inline ? "btn btn--light btn--sm" : "feedback-fab", dataset: { testid: "feedback" }, title: t("feedback.open"), on: { click: openFeedback } },
    icon("feedback"),
    h("span", { class: inline ? "btn__label" : "feedback-fab__label" }, t("feedback.button")),
  );
}

function openFeedback() {
  const message = h("textarea", { class: "input", rows: 5, maxLength: MESSAGE_MAX, required: true, autofocus: true, placeholder: t("feedback.placeholder"), dataset: { testid: "feedback-message" } });
  const email = h("input", { type: "email", class: "input", autocomplete: "email", placeholder: "name@example.com", dataset: { testid: "feedback-email" } });
  const counter = h("span", { class: "muted small counter-text" }, `0 / ${formatNumber(MESSAGE_MAX)}`);
  message.addEventListener("input", () => {
    counter.textContent = `${formatNumber(message.value.length)} / ${formatNumber(MESSAGE_MAX)}`;
  });
  const send = button(t("feedback.send"), { kind: "primary", type: "submit", dataset: { testid: "feedback-send" } });
  const form = h(
    "form",
    { class: "form", noValidate: true, id: "feedback-form" },
    h("p", { class: "muted small" }, t("feedback.intro")),
    field({ label: t("feedback.message"), control: message, name: "message", required: true }),
    counter,
    field({ label: t("feedback.email"), control: email, name: "email", hint: t("feedback.email_hint") }),
    h("p", { class: "small" }, h("a", { class: "link", href: "/privacy", target: "_blank", rel: "noopener" }, t("about.privacy"))),
  );
  send.setAttribute("form", form.id);
  const handle = openDialog({
    title: t("feedback.title"),
    size: "sm",
    body: form,
    className: "dialog--feedback",
    footer: [button(t("action.cancel"), { onClick: () => handle.close() }), send],
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = message.value.trim();
    const address = email.value.trim();
    const problems = {};
    if (!text) problems.message = t("feedback.required");
    if (address && !email.checkValidity()) problems.email = t("feedback.bad_email");
    showFieldErrors(form, problems);
    if (Object.keys(problems).length) return;
    handle.setBusy(true);
    try {
      await api("POST", "/feedback", address ? { message: text, email: address } : { message: text });
      const body = handle.dialog.querySelector(".dialog__body");
      body.replaceChildren(h("div", { class: "thanks", role: "status", dataset: { testid: "feedback-thanks" } }, icon("check", "thanks__icon"), h("p", { class: "thanks__title" }, t("feedback.thanks")), h("p", { class: "muted" }, t("feedback.thanks_more"))));
      const footer = handle.dialog.querySelector(".dialog__footer");
      const close = button(t("action.close"), { kind: "primary", onClick: () => handle.close() });
      footer.replaceChildren(close);
      close.focus();
    } catch (error) {
      handle.setBusy(false);
      showFieldErrors(form, error.fields || {});
      toast(`${t("feedback.failed")} ${errorText(error)}`, { kind: "error" });
    }
  });
}
