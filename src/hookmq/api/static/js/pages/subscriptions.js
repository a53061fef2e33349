// Subscriptions of every session, connected or not.

import { h, pageHeader } from "../dom.js";
import { api } from "../api.js";
import { pagedTable } from "../pager.js";

export function page() {
  const options = (s) => [s.no_local && "no local", s.retain_as_published && "retain as published",
    s.retain_handling ? `retain handling ${s.retain_handling}` : null].filter(Boolean).join(", ");
  const list = pagedTable({
    load: (query) => api.get("/subscriptions", query),
    filters: [{ name: "clientid", label: "Client id", placeholder: "Client id (exact)" },
      { name: "topic", label: "Topic filter", placeholder: "Topic filter (exact)" }],
    label: "Subscriptions",
    empty: "No subscriptions.",
    columns: [
      { title: "Client id", cell: (s) => h("span", { class: "mono" }, s.clientid) },
      { title: "Topic filter", cell: (s) => h("span", { class: "mono" }, s.topic) },
      { title: "QoS", class: "num", cell: (s) => String(s.qos) },
      { title: "Shared group", cell: (s) => s.share_group ?? h("span", { class: "muted" }, "–") },
      { title: "Options", cell: (s) => options(s) || h("span", { class: "muted" }, "–") },
      { title: "Id", class: "num", cell: (s) => (s.subscription_id ?? "–") },
      { title: "Client", cell: (s) => h("span", { class: ["dot-label", s.connected ? "on" : "off"] }, s.connected ? "online" : "offline") },
    ],
  });
  list.reload();
  return { title: "Subscriptions", el: h("div", null, pageHeader("Subscriptions", { subtitle: "Topic filters of every session, connected or not." }), list.el) };
}
