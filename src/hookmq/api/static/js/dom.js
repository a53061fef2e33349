// DOM helpers. Everything the dashboard shows is built with createElement and text nodes: API data (payloads,
// response bodies, client ids, topics) is attacker-controlled and never goes through innerHTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "disabled" || key === "selected" || key === "open") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h("button", {class: "btn", onclick}, "Save"): an element; string children become text nodes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// ---------------------------------------------------------------------------------------------- formatting

const numberFormat = new Intl.NumberFormat("en-US");
export const fmtInt = (n) => (n === null || n === undefined ? "–" : numberFormat.format(n));

export function fmtRate(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  if (n === 0) return "0";
  if (n < 10) return n.toFixed(2);
  if (n < 100) return n.toFixed(1);
  return numberFormat.format(Math.round(n));
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i ? v.toFixed(v < 10 ? 1 : 0) : v} ${units[i]}`;
}

/** Seconds as hookmq writes durations: 15 -> "15s", 0.5 -> "500ms", 300 -> "5m", 86400 -> "1d". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  for (const [unit, size] of units) {
    if (seconds >= size && Number.isInteger(seconds / size)) return `${seconds / size}${unit}`;
  }
  return `${Math.round(seconds * 1000 * 1000) / 1000}ms`;
}

/** Byte budgets: 1073741824 -> "1GiB", otherwise the number of bytes. */
export function fmtSize(bytes) {
  const units = [["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]];
  for (const [unit, size] of units) {
    if (bytes >= size && Number.isInteger(bytes / size)) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

export function fmtUptime(seconds) {
  const d = Math.floor(seconds / 86400);
  const hrs = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d}d ${hrs}h`;
  if (hrs) return `${hrs}h ${m}m`;
  if (m) return `${m}m ${seconds % 60}s`;
  return `${seconds}s`;
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

/** A unix time (ms) as local "2025-01-31 14:05:09". */
export function fmtTime(ms, withMs = false) {
  if (ms === null || ms === undefined) return "–";
  const d = new Date(ms);
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** "12 s ago", "3 min ago" for a unix time in ms. */
export function fmtAgo(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// ---------------------------------------------------------------------------------------------- widgets

const STATUS_CLASS = {
  connected: "ok", success: "ok", connecting: "warn", retry: "warn", test: "info", disabled: "muted",
  disconnected: "bad", circuit_open: "bad", failed: "bad", gone: "bad",
};
const STATUS_TEXT = { circuit_open: "circuit open" };

/** A coloured status label (connected, disconnected, success, failed, ...). */
export function badge(status, title) {
  return h("span", { class: ["badge", `badge-${STATUS_CLASS[status] || "muted"}`], title }, STATUS_TEXT[status] || status);
}

/** An on/off switch: a checkbox with role=switch, labelled for screen readers and tests. */
export function toggle({ checked, label, onchange, disabled }) {
  const input = h("input", { type: "checkbox", role: "switch", class: "switch", "aria-label": label, checked, disabled });
  if (onchange) input.addEventListener("change", () => onchange(input.checked, input));
  return input;
}

export function spinner() {
  return h("span", { class: "spinner", "aria-hidden": "true" });
}

/** A short-lived message in the corner. */
export function toast(message, kind = "ok") {
  const host = document.getElementById("toasts");
  const el = h("div", { class: ["toast", `toast-${kind}`], role: kind === "bad" ? "alert" : "status" }, message);
  host.append(el);
  setTimeout(() => el.classList.add("toast-out"), 3500);
  setTimeout(() => el.remove(), 4000);
}

/** Ask before doing something that cannot be undone; resolves true when confirmed. */
export function confirmDialog({ title, message, confirm = "Delete", danger = true }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-label": title });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      h("h2", null, title),
      h("p", null, message),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => done(false) }, "Cancel"),
        h("button", { type: "button", class: ["btn", danger ? "btn-danger" : "btn-primary"], onclick: () => done(true) },
          confirm)),
    );
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Show a long text (a payload, a response body) in a dialog, as text. */
export function textDialog(title, text) {
  const dialog = h("dialog", { class: "dialog dialog-wide", "aria-label": title });
  const close = () => { dialog.close(); dialog.remove(); };
  dialog.append(
    h("h2", null, title),
    h("pre", { class: "code code-scroll" }, text),
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "btn", onclick: close }, "Close")),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

/** A table: columns = [{title, cell: (row) => node|string, class}], rows = data; empty shows `empty`. */
export function table(columns, rows, { empty = "Nothing here yet.", rowClass, label } = {}) {
  const head = h("thead", null, h("tr", null, columns.map((c) => h("th", { class: c.class, scope: "col" }, c.title))));
  const body = h("tbody", null);
  if (!rows.length) {
    body.append(h("tr", { class: "empty-row" }, h("td", { colspan: columns.length }, empty)));
  }
  for (const row of rows) {
    body.append(h("tr", { class: rowClass ? rowClass(row) : undefined },
      columns.map((c) => h("td", { class: c.class }, c.cell(row)))));
  }
  return h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": label }, head, body));
}

/** A metric tile: big number, label, optional hint. */
export function stat(label, value, { kind, hint, testid } = {}) {
  return h("div", { class: ["stat", kind && `stat-${kind}`], "data-testid": testid },
    h("div", { class: "stat-label" }, label),
    h("div", { class: "stat-value" }, value),
    hint ? h("div", { class: "stat-hint" }, hint) : null);
}

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", { class: "card-title" }, title) : null, ...children);
}

/** Page header: title, optional subtitle and actions on the right. */
export function pageHeader(title, { subtitle, actions = [], crumbs } = {}) {
  return h("header", { class: "page-header" },
    h("div", null,
      crumbs ? h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, crumbs) : null,
      h("h1", null, title),
      subtitle ? h("p", { class: "subtitle" }, subtitle) : null),
    h("div", { class: "page-actions" }, actions));
}

/** Truncate text for a table cell; the whole text stays in the title (a tooltip). */
export function ellipsis(text, max = 80) {
  const s = String(text);
  return h("span", { class: "mono", title: s.length > max ? s : undefined }, s.length > max ? `${s.slice(0, max)}…` : s);
}
