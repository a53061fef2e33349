// The dashboard's shell: a hash router (no page reloads), the sidebar, and the login guard.

import { h, replace, toast } from "./dom.js";
import { api, onPasswordChangeRequired, onUnauthorized, session } from "./api.js";
import * as login from "./pages/login.js";
import * as overview from "./pages/overview.js";
import * as clients from "./pages/clients.js";
import * as subscriptions from "./pages/subscriptions.js";
import * as retained from "./pages/retained.js";
import * as webhooks from "./pages/webhooks.js";
import * as webhookForm from "./pages/webhook_form.js";
import * as webhookDetail from "./pages/webhook_detail.js";

const ROUTES = [
  { path: /^\/login$/, page: login.loginPage, public: true, bare: true },
  { path: /^\/password$/, page: login.passwordPage, bare: true, duringChange: true },
  { path: /^\/overview$/, page: overview.page, nav: "overview" },
  { path: /^\/clients$/, page: clients.page, nav: "clients" },
  { path: /^\/subscriptions$/, page: subscriptions.page, nav: "subscriptions" },
  { path: /^\/retained$/, page: retained.page, nav: "retained" },
  { path: /^\/webhooks$/, page: webhooks.page, nav: "webhooks" },
  { path: /^\/webhooks\/new$/, page: webhookForm.page, nav: "webhooks" },
  { path: /^\/webhooks\/([^/]+)\/edit$/, page: webhookForm.page, nav: "webhooks", params: ["name"] },
  { path: /^\/webhooks\/([^/]+)$/, page: webhookDetail.page, nav: "webhooks", params: ["name"] },
];

const NAV = [
  { section: null, items: [{ id: "overview", label: "Overview", href: "#/overview", icon: "◧" }] },
  {
    section: "Monitoring",
    items: [
      { id: "clients", label: "Clients", href: "#/clients", icon: "⇄" },
      { id: "subscriptions", label: "Subscriptions", href: "#/subscriptions", icon: "≡" },
      { id: "retained", label: "Retained", href: "#/retained", icon: "▣" },
    ],
  },
  { section: "Integration", items: [{ id: "webhooks", label: "Webhooks", href: "#/webhooks", icon: "↗" }] },
];

/** What a page gets: timers that stop when the user leaves, and navigation. */
class Scope {
  constructor() {
    this.alive = true;
    this.cleanups = [];
  }

  /** Run `fn` now and every `ms` while this page is shown (one run at a time; paused in hidden tabs). */
  every(ms, fn) {
    let running = false;
    const tick = async (force) => {
      if (!this.alive || running || (!force && document.hidden)) return;
      running = true;
      try { await fn(); } catch (err) { if (this.alive) console.warn(err); } finally { running = false; }
    };
    tick(true);
    const timer = setInterval(() => tick(false), ms);
    this.cleanups.push(() => clearInterval(timer));
    return () => tick(true);  // run it now (after a change)
  }

  onDispose(fn) { this.cleanups.push(fn); }

  dispose() {
    this.alive = false;
    for (const fn of this.cleanups) fn();
  }
}

const state = { scope: null, next: null, loginMessage: null, node: null };

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function currentPath() {
  const path = location.hash.replace(/^#/, "") || "/overview";
  return path === "/" ? "/overview" : path;
}

function match(path) {
  for (const route of ROUTES) {
    const m = route.path.exec(path);
    if (m) {
      const params = {};
      (route.params || []).forEach((name, i) => { params[name] = decodeURIComponent(m[i + 1]); });
      return { route, params };
    }
  }
  return null;
}

function sidebar(active) {
  const nodeInfo = h("div", { class: "node-info" }, state.node ? `${state.node.node} · v${state.node.version}` : "");
  if (!state.node) {
    api.health().then((info) => { state.node = info; nodeInfo.textContent = `${info.node} · v${info.version}`; })
      .catch(() => {});
  }
  return h("aside", { class: "sidebar" }, h("div", { class: "sidebar-inner" },
    h("a", { class: "brand", href: "#/overview" }, h("img", { src: "/static/favicon.svg", alt: "", width: 28, height: 28 }),
      h("span", null, "hookmq")),
    h("nav", { class: "nav", "aria-label": "Main" }, NAV.map((group) => [
      group.section ? h("div", { class: "nav-section" }, group.section) : null,
      group.items.map((item) => h("a", {
        href: item.href, class: ["nav-item", item.id === active && "active"],
        "aria-current": item.id === active ? "page" : undefined,
      }, h("span", { class: "nav-icon", "aria-hidden": "true" }, item.icon), item.label)),
    ])),
    h("div", { class: "sidebar-foot" },
      h("a", { class: "nav-item nav-small", href: "/api/docs", target: "_blank", rel: "noopener" }, "REST API docs ↗"),
      nodeInfo)));
}

function topbar() {
  return h("div", { class: "topbar" },
    h("span", { class: "topbar-user" }, `Signed in as ${session.username}`),
    h("a", { class: "btn btn-ghost btn-small", href: "#/password" }, "Change password"),
    h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: logout }, "Log out"));
}

async function logout() {
  try { await api.post("/logout"); } catch { /* the token may be gone already */ }
  session.clear();
  state.next = null;
  state.loginMessage = "You have logged out.";
  navigate("#/login");
}

function render() {
  const path = currentPath();
  const found = match(path);
  if (state.scope) state.scope.dispose();
  state.scope = null;
  const root = document.getElementById("app");
  if (!found) {
    navigate("#/overview");
    return;
  }
  const { route, params } = found;
  if (!route.public && (!session.token || session.expired)) {
    if (session.token) state.loginMessage = "Your session has expired. Please log in again.";
    session.clear();
    state.next = `#${path}`;
    navigate("#/login");
    return;
  }
  if (!route.public && !route.duringChange && session.passwordChangeRequired) {
    state.next = `#${path}`;
    navigate("#/password");
    return;
  }
  const scope = new Scope();
  state.scope = scope;
  const ctx = {
    scope, params, navigate,
    takeLoginMessage() { const m = state.loginMessage; state.loginMessage = null; return m; },
    afterLogin() {
      const next = state.next && !/^#\/(login|password)/.test(state.next) ? state.next : "#/overview";
      state.next = null;
      navigate(session.passwordChangeRequired ? "#/password" : next);
    },
    logout,
  };
  const view = route.page(ctx);
  document.title = view.title ? `${view.title} · hookmq` : "hookmq";
  if (route.bare) {
    replace(root, h("main", { class: "bare" }, view.el));
  } else {
    replace(root, h("div", { class: "layout" }, sidebar(route.nav),
      h("div", { class: "content" }, topbar(), h("main", { class: "main", id: "main" }, view.el))));
  }
  window.scrollTo(0, 0);
}

onUnauthorized((message) => {
  const path = currentPath();
  if (path === "/login") return;
  state.loginMessage = message;
  state.next = `#${path}`;
  navigate("#/login");
});

onPasswordChangeRequired(() => {
  if (currentPath() === "/password") return;
  sessionStorage.setItem("hookmq.password_change_required", "1");
  state.next = `#${currentPath()}`;
  toast("Please change the default password first.", "warn");
  navigate("#/password");
});

window.addEventListener("hashchange", render);
render();
