// Integration → Webhooks: the list, refreshed every few seconds in place (rows keep their focus and switches).

import { badge, fmtInt, fmtRate, h, pageHeader, replace, toggle } from "../dom.js";
import { api, seg } from "../api.js";
import { deleteWebhook, setEnabled, triggerSummary } from "../webhook_common.js";

export const POLL_MS = 2000;

export function page(ctx) {
  const rows = new Map();  // name -> {tr, update(w)}
  const tbody = h("tbody", null);
  const tableEl = h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Webhooks" },
    h("thead", null, h("tr", null,
      ["Name", "URL", "Enabled", "Status", "Success", "Failed", "Waiting", "Rate", ""].map((t, i) =>
        h("th", { scope: "col", class: i >= 4 && i <= 7 ? "num" : undefined }, t)))),
    tbody));
  const body = h("div", { class: "card" }, h("p", { class: "muted" }, "Loading…"));
  const create = h("a", { class: "btn btn-primary", href: "#/webhooks/new" }, "+ Create");
  const el = h("div", null,
    pageHeader("Webhooks", {
      subtitle: "Send MQTT messages and client events to HTTP endpoints, with EMQX's events and fields.",
      crumbs: ["Integration"], actions: [create],
    }),
    body);
  let shown = null;

  function row(w) {
    const name = h("a", { href: `#/webhooks/${seg(w.name)}`, class: "strong" }, w.name);
    const source = w.read_only ? h("span", { class: "tag", title: "Defined in the config file: read-only at run time" }, "config file") : null;
    const url = h("td", { class: "cell-url" });
    const trigger = h("div", { class: "muted small cell-trigger" });
    const status = h("td", null);
    const success = h("td", { class: "num" });
    const failed = h("td", { class: "num" });
    const waiting = h("td", { class: "num" });
    const rate = h("td", { class: "num" });
    let current = w;
    const sw = toggle({
      checked: w.enable, label: `Enable ${w.name}`,
      onchange: async (checked, input) => {
        input.disabled = true;
        const updated = await setEnabled(current, checked);
        input.disabled = false;
        if (updated) update(updated); else input.checked = !checked;
      },
    });
    const actions = h("td", { class: "actions" },
      h("a", { class: "btn btn-small btn-ghost", href: `#/webhooks/${seg(w.name)}/edit` }, w.read_only ? "View" : "Settings"),
      w.read_only ? null : h("button", {
        type: "button", class: "btn btn-small btn-danger-ghost", "aria-label": `Delete ${w.name}`,
        onclick: async () => { if (await deleteWebhook(current)) refresh(); },
      }, "Delete"));
    const tr = h("tr", { "data-webhook": w.name }, h("td", null, name, " ", source, trigger), url, h("td", null, sw),
      status, success, failed, waiting, rate, actions);
    function update(next) {
      current = next;
      replace(url, h("span", { class: "tag" }, next.method), " ", h("span", { class: "mono", title: next.url }, next.url));
      trigger.title = triggerSummary(next);
      trigger.textContent = triggerSummary(next);
      replace(status, badge(next.status, next.status_reason || undefined));
      success.textContent = fmtInt(next.metrics.success);
      failed.textContent = fmtInt(next.metrics.failed);
      failed.classList.toggle("text-bad", next.metrics.failed > 0);
      waiting.textContent = fmtInt(next.metrics.queuing + next.metrics.inflight);
      rate.textContent = `${fmtRate(next.metrics.rate)}/s`;
      if (!sw.disabled) sw.checked = next.enable;
      tr.classList.toggle("row-bad", ["disconnected", "circuit_open"].includes(next.status));
    }
    update(w);
    return { tr, update };
  }

  const refresh = ctx.scope.every(POLL_MS, async () => {
    const hooks = await api.get("/webhooks");
    if (!ctx.scope.alive) return;
    if (!hooks.length) {
      rows.clear();
      replace(tbody);
      if (shown !== "empty") {
        shown = "empty";
        replace(body, h("div", { class: "empty empty-big" },
          h("div", { class: "empty-art", "aria-hidden": "true" }, "↗"),
          h("h2", null, "No webhooks yet"),
          h("p", null, "A webhook forwards messages and events (client connected, message published, …) to your HTTP service as JSON."),
          h("a", { class: "btn btn-primary", href: "#/webhooks/new" }, "Create webhook")));
      }
      return;
    }
    if (shown !== "table") {
      shown = "table";
      replace(body, tableEl);
    }
    const seen = new Set();
    for (const w of hooks) {
      seen.add(w.name);
      let entry = rows.get(w.name);
      if (entry) entry.update(w);
      else { entry = row(w); rows.set(w.name, entry); }
      tbody.append(entry.tr);  // keeps the API's order (config-file webhooks first)
    }
    for (const [name, entry] of rows) {
      if (!seen.has(name)) { entry.tr.remove(); rows.delete(name); }
    }
  });
  return { title: "Webhooks", el };
}
