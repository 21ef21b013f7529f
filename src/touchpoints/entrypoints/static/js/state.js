// What every view shares: the page's launch parameters, who is looking, users and settings.

import { api } from "./api.js";
import { currentLanguage, t } from "./i18n.js";

export const OWNER_TYPES = ["lead", "deal", "contact", "company"];
export const TYPES = ["call", "meeting", "email", "message", "visit", "other"];
export const COLUMNS = ["overdue", "today", "tomorrow", "this_week", "next_week", "later"];

export const app = {
  lang: "en",
  placement: "DEFAULT",
  placementOptions: {},
  /** Filters a link into the app sets on the board for this visit (placements.js linkFilters). */
  launchFilters: null,
  demo: false,
  me: null,
  users: [],
  usersById: new Map(),
  settings: null,
  smartProcesses: [],
  /** Quick dates from ``GET /presets`` (local days); refreshed with every board load. */
  presets: null,
  /** Set by a view with unsaved edits (settings): a function telling whether there are any. */
  unsaved: null,
};

/** Read the launch parameters the server put on <body> (see templates/app.html). */
export function readLaunch() {
  const data = document.body.dataset;
  let options = {};
  try {
    options = JSON.parse(data.placementOptions || "{}") || {};
  } catch {
    options = {};
  }
  app.lang = data.lang || "en";
  app.placement = (data.placement || "DEFAULT").toUpperCase();
  app.placementOptions = typeof options === "object" ? options : {};
  app.demo = data.demo === "true";
}

export function setUsers(users) {
  app.users = users;
  app.usersById = new Map(users.map((user) => [user.id, user]));
  if (app.me && !app.usersById.has(app.me.user.id)) {
    const self = { ...app.me.user, active: true, department_ids: [] };
    app.users = [self, ...users];
    app.usersById.set(self.id, self);
  }
}

export function myId() {
  return app.me?.user.id;
}

export function seesTeam() {
  return Boolean(app.me?.sees_team);
}

export function isAdmin() {
  return Boolean(app.me?.user.is_admin);
}

export function portalZone() {
  return app.settings?.time_zone || app.me?.portal.time_zone || "UTC";
}

/** A user by id, or a placeholder naming the id for users we cannot see. */
export function userById(id) {
  return app.usersById.get(id) || { id, name: t("user.unknown", { id }), photo: null, active: false };
}

/** Active users for pickers, the current user first. */
export function pickableUsers() {
  const me = myId();
  const active = app.users.filter((user) => user.active !== false);
  return [...active.filter((user) => user.id === me), ...active.filter((user) => user.id !== me)];
}

/** Every owner type the portal knows: the four entities, then its smart processes. */
export function ownerKinds() {
  const known = [...OWNER_TYPES, ...(app.smartProcesses || []).map((process) => process.type)];
  // A smart process enabled earlier whose type Bitrix24 no longer lists still names cards.
  const enabled = (app.settings?.enabled_entities || []).filter((type) => !known.includes(type));
  return [...known, ...enabled];
}

/** Owner types a new touch-point may use (the portal's enabled entities). */
export function enabledOwnerTypes() {
  const enabled = app.settings?.enabled_entities;
  return ownerKinds().filter((type) => !enabled || enabled.includes(type));
}

/** A smart process's name as the CRM gives it, or null for the four entities. */
export function smartProcessTitle(type) {
  if (!String(type).startsWith("dynamic_")) return null;
  return (app.smartProcesses || []).find((process) => process.type === type)?.title || null;
}

/** A sentence for the user about a failed API call, in their language. */
export function errorText(error) {
  if (!error) return t("error.generic");
  // The server's messages are English and specific; elsewhere translate the machine code.
  if (currentLanguage() === "en" && error.serverMessage && error.status < 500) {
    const text = error.serverMessage.charAt(0).toUpperCase() + error.serverMessage.slice(1);
    return /[.!?…]$/.test(text) ? text : `${text}.`;
  }
  for (const key of [`error.code.${error.code}`, `error.status.${error.status}`]) {
    const text = t(key);
    if (text !== key) return text;
  }
  return t("error.generic");
}

/** The owner record's title, or the words for a record this user may not see. */
export function ownerTitle(owner) {
  return owner?.title ?? t("record.hidden");
}

/** Fetch the server's quick dates; the previous ones stay when the request fails. */
export async function loadPresets() {
  try {
    app.presets = await api("GET", "/presets");
  } catch {
    // Keep what we had: presets only prefill fields.
  }
  return app.presets;
}
