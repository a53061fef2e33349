// Overview: connections, message rates (computed from /stats counters polled every few seconds) and the
// health of every webhook, failing ones first.

import { badge, card, fmtInt, fmtRate, fmtUptime, h, pageHeader, replace, stat, table } from "../dom.js";
import { api, seg } from "../api.js";
import { RateTracker, timeChart } from "../chart.js";

export const POLL_MS = 2000;
const FAILING = new Set(["disconnected", "circuit_open"]);

export function page(ctx) {
  const tiles = h("div", { class: "stats" });
  const rates = new RateTracker(["messages_received", "messages_sent", "messages_dropped"]);
  const chart = timeChart({ label: "Message rates" });
  const rateTiles = h("div", { class: "stats stats-small" });
  const health = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const el = h("div", null,
    pageHeader("Overview", { subtitle: "The node at a glance; refreshed every few seconds." }),
    tiles,
    h("div", { class: "grid-2" },
      card("Message rates", rateTiles, chart),
      card("Webhook health", health)));

  ctx.scope.every(POLL_MS, async () => {
    const [stats, hooks] = await Promise.all([api.get("/stats"), api.get("/webhooks")]);
    if (!ctx.scope.alive) return;
    rates.add(stats);
    replace(tiles,
      stat("Connections", fmtInt(stats.connections), { hint: `peak ${fmtInt(stats.connections_max)} · ${fmtInt(stats.connections_total)} since start`, testid: "stat-connections" }),
      stat("Sessions", fmtInt(stats.sessions)),
      stat("Subscriptions", fmtInt(stats.subscriptions), { hint: stats.shared_subscriptions ? `${fmtInt(stats.shared_subscriptions)} shared` : null }),
      stat("Retained", fmtInt(stats.retained)),
      stat("Uptime", fmtUptime(stats.uptime), { hint: `${stats.node} · v${stats.version}` }));
    replace(rateTiles,
      stat("Received", `${fmtRate(rates.current("messages_received") ?? 0)}/s`, { hint: `${fmtInt(stats.messages_received)} in total`, testid: "rate-received" }),
      stat("Sent", `${fmtRate(rates.current("messages_sent") ?? 0)}/s`, { hint: `${fmtInt(stats.messages_sent)} in total` }),
      stat("Dropped", `${fmtRate(rates.current("messages_dropped") ?? 0)}/s`, { hint: `${fmtInt(stats.messages_dropped)} in total`, kind: stats.messages_dropped ? "warn" : null }));
    chart.update([
      { name: "received", kind: "a", points: rates.points.messages_received },
      { name: "sent", kind: "b", points: rates.points.messages_sent },
      { name: "dropped", kind: "bad", points: rates.points.messages_dropped },
    ]);
    renderHealth(health, stats.webhooks, hooks);
  });
  return { title: "Overview", el };
}

function renderHealth(el, summary, hooks) {
  if (!summary.total) {
    replace(el, h("div", { class: "empty" },
      h("p", null, "No webhooks yet. A webhook sends MQTT messages and client events to your HTTP endpoint."),
      h("a", { class: "btn btn-primary", href: "#/webhooks/new" }, "Create webhook")));
    return;
  }
  const statuses = Object.entries(summary.by_status).sort(([a], [b]) => a.localeCompare(b));
  const sorted = [...hooks].sort((a, b) => Number(FAILING.has(b.status)) - Number(FAILING.has(a.status)));
  replace(el,
    h("div", { class: "status-counts", "aria-label": "Webhooks by status" },
      statuses.map(([status, n]) => h("span", { class: "status-count" }, badge(status), h("strong", null, fmtInt(n))))),
    h("div", { class: "stats stats-small" },
      stat("Delivered", fmtInt(summary.success), { kind: "ok" }),
      stat("Failed", fmtInt(summary.failed), { kind: summary.failed ? "bad" : null }),
      stat("Dropped", fmtInt(summary.dropped)),
      stat("Waiting", fmtInt(summary.queuing + summary.inflight))),
    table([
      { title: "Webhook", cell: (w) => h("a", { href: `#/webhooks/${seg(w.name)}` }, w.name) },
      { title: "Status", cell: (w) => badge(w.status, w.status_reason || undefined) },
      { title: "Success", class: "num", cell: (w) => fmtInt(w.metrics.success) },
      { title: "Failed", class: "num", cell: (w) => fmtInt(w.metrics.failed) },
      { title: "Rate", class: "num", cell: (w) => `${fmtRate(w.metrics.rate)}/s` },
    ], sorted, { rowClass: (w) => (FAILING.has(w.status) ? "row-bad" : undefined), label: "Webhook health" }));
}
