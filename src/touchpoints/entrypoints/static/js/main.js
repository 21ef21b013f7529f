// Start-up and the app shell: launch parameters, session, translations, the Bitrix24 frame,
// then the view for the placement (board, CRM card tab) or the hash route (#settings).

import { api, setRenewer, takeSession } from "./api.js";
import { frameAuth, initFrame, inFrame, sliderView } from "./bx.js";
import { mountBoard } from "./board.js";
import { avatar, h, icon, loadIcons, replace } from "./dom.js";
import { feedbackButton } from "./feedback.js";
import { linkFilters, linkFromPlacement, menuFromPlacement, mountMenu, openLinkedComplete } from "./placements.js";
import { LANGUAGES, loadLanguage, t, warmUpFormatting } from "./i18n.js";
import { mountRecord, ownerFromPlacement } from "./record.js";
import { mountReports } from "./reports.js";
import { mountSettings } from "./settings.js";
import { mountSlider } from "./slider.js";
import { app, errorText, readLaunch, setUsers } from "./state.js";
import { button, confirmDialog } from "./ui.js";

const root = document.getElementById("app");

function demoUserId() {
  const fromUrl = Number(new URLSearchParams(window.location.search).get("user"));
  return app.me?.user.id ?? (fromUrl > 0 ? fromUrl : null);
}

function installRenewer() {
  if (inFrame()) {
    setRenewer(frameAuth);
  } else if (app.demo) {
    setRenewer(async () => {
      const id = demoUserId();
      if (!id) throw new Error("no demo user");
      return { demo_user_id: id };
    });
  }
}

/** The demo's "act as" and language pickers: they reload the page with ?user= / ?lang=. */
function demoControls() {
  const params = new URLSearchParams(window.location.search);
  const go = (key, value) => {
    params.set(key, value);
    window.location.search = params.toString();
  };
  const users = h(
    "select",
    { class: "demo__select", "aria-label": t("demo.act_as"), dataset: { testid: "demo-user" }, on: { change: (event) => go("user", event.target.value) } },
    app.users.filter((user) => user.active !== false).map((user) => h("option", { value: String(user.id), selected: user.id === app.me.user.id }, user.name)),
  );
  const langs = h(
    "select",
    { class: "demo__select", "aria-label": t("demo.language"), on: { change: (event) => go("lang", event.target.value) } },
    LANGUAGES.map((code) => h("option", { value: code, selected: code === app.lang }, code.toUpperCase())),
  );
  return h("div", { class: "demo" }, h("span", { class: "demo__badge", title: t("demo.hint") }, t("demo.badge")), h("label", { class: "demo__label" }, h("span", {}, t("demo.act_as")), users), langs);
}

function currentRoute() {
  if (window.location.hash === "#settings" || app.placement === "SETTINGS") return "settings";
  if (window.location.hash === "#reports") return "reports";
  // Opened from CRM Analytics: the reports first, the other tabs a click away.
  return app.placement === "CRM_ANALYTICS_MENU" && !window.location.hash ? "reports" : "board";
}

function shell({ withNav }) {
  const me = app.me.user;
  const nav = withNav
    ? h(
        "nav",
        { class: "tabs", "aria-label": t("nav.label") },
        h("a", { class: "tabs__item", href: "#board", dataset: { route: "board", testid: "nav-board" } }, icon("board"), h("span", {}, t("nav.board"))),
        h("a", { class: "tabs__item", href: "#reports", dataset: { route: "reports", testid: "nav-reports" } }, icon("chart"), h("span", {}, t("nav.reports"))),
        h("a", { class: "tabs__item", href: "#settings", dataset: { route: "settings", testid: "nav-settings" } }, icon("settings"), h("span", {}, t("nav.settings"))),
      )
    : null;
  const main = h("main", { class: "main", id: "view", tabIndex: -1 });
  replace(
    root,
    h(
      "header",
      { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "brand__logo", "aria-hidden": "true" }, icon("board")), h("span", { class: "brand__name" }, t("app.name"))),
      nav,
      h("span", { class: "spacer" }),
      app.demo ? demoControls() : null,
      // In the top bar, never floating over the board's last card or a chart's bars.
      feedbackButton({ inline: true }),
      h("span", { class: "me", title: me.is_admin ? t("me.admin") : null }, avatar(me, "sm"), h("span", { class: "me__name" }, me.name)),
    ),
    main,
    h("footer", { class: "footer" }, h("a", { class: "link", href: "/privacy", target: "_blank", rel: "noopener", dataset: { testid: "privacy-link" } }, t("about.privacy")), h("span", { class: "muted" }, t("footer.tagline"))),
  );
  root.removeAttribute("aria-busy");
  return main;
}

function route(main) {
  const current = currentRoute();
  for (const link of document.querySelectorAll(".tabs__item")) {
    const active = link.dataset.route === current;
    link.classList.toggle("is-active", active);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (current === "settings") mountSettings(main);
  else if (current === "reports") mountReports(main);
  else mountBoard(main);
}

function fatal(error) {
  const known = t("error.fatal") !== "error.fatal"; // false when the translations never loaded
  replace(
    root,
    h(
      "div",
      { class: "empty-state empty-state--page", role: "alert" },
      h("h1", { class: "page-title" }, known ? t("error.fatal") : "Touch-points could not start"),
      h("p", { class: "muted" }, error?.status !== undefined ? errorText(error) : known ? t("error.reopen") : "Please reopen the app."),
      button(known ? t("action.retry") : "Try again", { kind: "primary", onClick: () => window.location.reload() }),
    ),
  );
  root.removeAttribute("aria-busy");
}

async function boot() {
  readLaunch();
  const hasSession = takeSession();
  const assets = Promise.all([loadLanguage(app.lang), loadIcons()]);
  // The frame's renewer must be in place before the first API call can meet a 401.
  await initFrame({ demo: app.demo });
  installRenewer();
  // Who is looking, the users, the settings and the smart processes are asked for at once,
  // while the translations and icons still load; none of them needs another's answer.
  const answers = hasSession
    ? Promise.all([
        api("GET", "/me"),
        api("GET", "/users").then((answer) => answer.users || []).catch(() => []),
        api("GET", "/settings").catch(() => null),
        api("GET", "/smart-processes").then((answer) => answer.items || []).catch(() => []),
      ])
    : null;
  answers?.catch(() => {}); // awaited below, after the translations an error page needs
  [app.lang] = await assets;
  warmUpFormatting(); // while the answers are on their way
  if (!answers) throw Object.assign(new Error("no session"), { status: 401, code: "SESSION_MISSING" });
  const [me, users, settings, smartProcesses] = await answers;
  app.me = me;
  setUsers(users);
  app.settings = settings;
  app.smartProcesses = smartProcesses;

  const owner = ownerFromPlacement(app.placement, app.placementOptions);
  if (owner) {
    document.body.classList.add("is-tab");
    mountRecord(shell({ withNav: false }), owner);
    return;
  }
  const menu = menuFromPlacement(app.placement, app.placementOptions);
  if (menu) {
    document.body.classList.add("is-tab");
    mountMenu(shell({ withNav: false }), menu);
    return;
  }
  const slider = sliderView(app.placementOptions);
  if (slider) {
    document.body.classList.add("is-tab");
    mountSlider(shell({ withNav: false }), slider);
    return;
  }
  const link = linkFromPlacement(app.placement, app.placementOptions);
  app.launchFilters = linkFilters(link);
  const main = shell({ withNav: true });
  route(main);
  if (link?.complete) openLinkedComplete(link, { onDone: () => route(main) });
  window.addEventListener("hashchange", () => leaveTo(main));
  window.addEventListener("beforeunload", (event) => {
    if (!app.unsaved?.()) return;
    event.preventDefault();
    event.returnValue = ""; // Chromium still asks for it to show its "Leave site?" prompt
  });
}

/** Follow a tab change, asking first when the settings have unsaved changes. */
async function leaveTo(main) {
  const target = window.location.hash;
  if (app.unsaved?.() && currentRoute() !== "settings") {
    window.history.replaceState(null, "", "#settings");
    const leave = await confirmDialog({
      title: t("settings.unsaved_leave"),
      message: t("settings.unsaved_message"),
      confirmLabel: t("settings.unsaved_discard"),
      cancelLabel: t("settings.unsaved_stay"),
    });
    if (!leave) return;
    window.history.replaceState(null, "", target);
  }
  app.unsaved = null;
  route(main);
}

boot().catch(fatal);
