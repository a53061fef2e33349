// One webhook: live metrics and a rate chart, status, the delivery log, dead letters with replay, reset,
// enable/disable and delete.

import {
  badge, ellipsis, fmtBytes, fmtInt, fmtMs, fmtRate, fmtTime, h, pageHeader, replace, spinner, stat, table,
  textDialog, toast, toggle, confirmDialog,
} from "../dom.js";
import { api, seg } from "../api.js";
import { RateTracker, timeChart } from "../chart.js";
import { deleteWebhook, setEnabled, triggerSummary } from "../webhook_common.js";
import { showTestResult } from "./webhook_form.js";

export const POLL_MS = 2000;
const DEAD_PAGE = 50;

export function page(ctx) {
  const name = ctx.params.name;
  const path = `/webhooks/${seg(name)}`;
  const root = h("div", null, pageHeader(name, { crumbs: [h("a", { href: "#/webhooks" }, "Webhooks")] }),
    h("div", { class: "card" }, spinner(), " Loading…"));
  let view = null;

  const refresh = ctx.scope.every(POLL_MS, async () => {
    let w;
    try {
      w = await api.get(path);
    } catch (err) {
      if (err.status === 404 && ctx.scope.alive) {
        view = null;
        replace(root, pageHeader(name, { crumbs: [h("a", { href: "#/webhooks" }, "Webhooks")] }),
          h("div", { class: "alert alert-bad", role: "alert" }, `There is no webhook named ${name} (any more).`));
      }
      throw err;
    }
    if (!ctx.scope.alive) return;
    if (!view) {
      view = build(ctx, w, () => refresh());
      replace(root, view.el);
    }
    await view.update(w);
  });
  return { title: name, el: root };
}

function build(ctx, first, refresh) {
  const path = `/webhooks/${seg(first.name)}`;
  let w = first;
  const rates = new RateTracker(["matched", "success", "failed"]);
  const chart = timeChart({ label: "Delivery rate" });

  const sw = toggle({
    checked: w.enable, label: "Enabled",
    onchange: async (checked, input) => {
      input.disabled = true;
      const updated = await setEnabled(w, checked);
      input.disabled = false;
      if (updated) refresh(); else input.checked = !checked;
    },
  });
  const testButton = h("button", { type: "button", class: "btn" }, "Test");
  const testResult = h("div", { class: "test-result hidden", "aria-live": "polite", "data-testid": "test-result" });
  const actions = [
    h("label", { class: "switch-label" }, sw, h("span", null, "Enabled")),
    testButton,
    h("a", { class: "btn", href: `#${path}/edit` }, w.read_only ? "View settings" : "Settings"),
    w.read_only ? null : h("button", {
      type: "button", class: "btn btn-danger-ghost",
      onclick: async () => {
        if (await deleteWebhook(w, w.queue)) ctx.navigate("#/webhooks");
      },
    }, "Delete"),
  ];
  const statusLine = h("div", { class: "status-line" });
  const tiles = h("div", { class: "stats" });
  const reset = h("button", {
    type: "button", class: "btn btn-small btn-ghost",
    onclick: async () => {
      const ok = await confirmDialog({ title: "Reset metrics", confirm: "Reset", danger: false,
        message: "Zero the counters and the latency histogram? Events still queued or in flight stay counted." });
      if (!ok) return;
      try {
        await api.post(`${path}/metrics/reset`);
        rates.last = null;
        toast("Metrics reset.");
        refresh();
      } catch (err) { toast(err.message, "bad"); }
    },
  }, "Reset metrics");

  // -------------------------------------------------------------- tabs: delivery log, dead letters
  const logTab = h("button", { type: "button", role: "tab", class: "tab", "aria-selected": "true", id: "tab-log" }, "Delivery log");
  const deadTab = h("button", { type: "button", role: "tab", class: "tab", "aria-selected": "false", id: "tab-dead" }, "Dead letters");
  const logPanel = h("div", { role: "tabpanel", "aria-labelledby": "tab-log" });
  const deadPanel = h("div", { role: "tabpanel", "aria-labelledby": "tab-dead", class: "hidden" });
  let active = "log";
  const select = (which) => {
    active = which;
    logTab.setAttribute("aria-selected", String(which === "log"));
    deadTab.setAttribute("aria-selected", String(which === "dead"));
    logPanel.classList.toggle("hidden", which !== "log");
    deadPanel.classList.toggle("hidden", which !== "dead");
    (which === "log" ? log.load : dead.load)();
  };
  logTab.addEventListener("click", () => select("log"));
  deadTab.addEventListener("click", () => select("dead"));
  const log = deliveryLog(path, logPanel);
  const dead = deadLetters(path, deadPanel, refresh);

  const el = h("div", null,
    pageHeader(w.name, {
      crumbs: [h("a", { href: "#/webhooks" }, "Webhooks")],
      subtitle: h("span", { class: "mono" }, `${w.method} ${w.url}`),
      actions,
    }),
    statusLine,
    testResult,
    tiles,
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Delivery rate"), reset),
      chart),
    h("section", { class: "card" },
      h("div", { class: "tabs", role: "tablist" }, logTab, deadTab),
      logPanel, deadPanel));

  testButton.addEventListener("click", async () => {
    testButton.disabled = true;
    testResult.className = "test-result";
    replace(testResult, spinner(), " Sending a sample message.publish…");
    try {
      showTestResult(testResult, await api.post(`${path}/test`, undefined, { event: "message.publish" }));
      log.load();
    } catch (err) {
      testResult.className = "test-result test-bad";
      replace(testResult, err.message);
    } finally {
      testButton.disabled = false;
    }
  });

  async function update(next) {
    w = next;
    const m = w.metrics;
    const q = w.queue;
    if (!sw.disabled) sw.checked = w.enable;
    rates.add(m);
    replace(statusLine,
      badge(w.status), w.status_reason ? h("span", { class: "status-reason" }, w.status_reason) : null,
      h("span", { class: "muted" }, triggerSummary(w)),
      h("span", { class: "tag mono", title: "metadata.rule_id of every event" }, `${w.name}_WH_D`),
      w.read_only ? h("span", { class: "tag", title: "Defined in the config file: read-only at run time" }, "config file") : null);
    const drops = Object.entries(m.dropped_by_reason).map(([k, v]) => `${k} ${fmtInt(v)}`).join(", ");
    replace(tiles,
      stat("Matched", fmtInt(m.matched), { hint: `${fmtRate(m.rate)}/s lately`, testid: "metric-matched" }),
      stat("Success", fmtInt(m.success), { kind: "ok", testid: "metric-success" }),
      stat("Failed", fmtInt(m.failed), { kind: m.failed ? "bad" : null, testid: "metric-failed" }),
      stat("Dropped", fmtInt(m.dropped), { hint: drops || null, testid: "metric-dropped" }),
      stat("Waiting", fmtInt(m.queuing + m.inflight), { kind: "info", hint: `${fmtInt(m.inflight)} in flight · ${fmtBytes(q.bytes)} queued`, testid: "metric-waiting" }),
      stat("Retried", fmtInt(m.retried), { hint: "extra attempts" }),
      stat("Latency", fmtMs(m.latency.avg_ms), { hint: m.latency.count ? `p50 ${fmtMs(m.latency.p50_ms)} · p99 ${fmtMs(m.latency.p99_ms)}` : "no requests yet" }),
      stat("Dead letters", fmtInt(q.dead), { kind: q.dead ? "bad" : null, testid: "metric-dead" }));
    deadTab.textContent = q.dead ? `Dead letters (${fmtInt(q.dead)})` : "Dead letters";
    chart.update([
      { name: "matched", kind: "a", points: rates.points.matched },
      { name: "success", kind: "ok", points: rates.points.success },
      { name: "failed", kind: "bad", points: rates.points.failed },
    ]);
    await (active === "log" ? log.load() : dead.load());
  }

  return { el, update };
}

function deliveryLog(path, panel) {
  const outcome = h("select", { "aria-label": "Outcome" },
    [["", "All outcomes"], ["success", "success"], ["retry", "retry"], ["failed", "failed"], ["gone", "gone"], ["test", "test"]]
      .map(([v, l]) => h("option", { value: v }, l)));
  const limit = h("select", { "aria-label": "Attempts shown" },
    [["25", "Last 25"], ["100", "Last 100"], ["200", "Last 200"]].map(([v, l]) => h("option", { value: v }, l)));
  const body = h("div", null);
  let lastKey = null;
  const load = async () => {
    const rows = await api.get(`${path}/deliveries`, { limit: limit.value, outcome: outcome.value || undefined });
    const key = JSON.stringify(rows);
    if (key === lastKey) return;
    lastKey = key;
    replace(body, table([
      { title: "Time", class: "nowrap", cell: (a) => fmtTime(a.at * 1000, true) },
      { title: "Event", cell: (a) => h("span", { class: "mono" }, a.event) },
      { title: "Attempt", class: "num", cell: (a) => String(a.attempt) },
      { title: "Outcome", cell: (a) => badge(a.outcome) },
      { title: "Status", class: "num", cell: (a) => (a.status === null ? "–" : String(a.status)) },
      { title: "Latency", class: "num", cell: (a) => fmtMs(a.latency_ms) },
      {
        title: "Response",
        cell: (a) => (a.error ? h("span", { class: "text-bad" }, a.error)
          : a.response ? h("span", { class: "payload-cell" }, ellipsis(a.response, 60),
            h("button", { type: "button", class: "link", onclick: () => textDialog("Response body", a.response) }, "view"))
            : h("span", { class: "muted" }, "(empty)")),
      },
    ], rows, { empty: "No requests yet. Publish a message or press Test.", label: "Delivery log" }));
  };
  for (const control of [outcome, limit]) control.addEventListener("change", () => { lastKey = null; load(); });
  replace(panel, h("div", { class: "toolbar" }, outcome, limit,
    h("span", { class: "muted small" }, "Newest first; the node keeps the last 200 attempts in memory.")), body);
  return { load };
}

function deadLetters(path, panel, refresh) {
  const selected = new Set();
  let offset = 0;
  let lastKey = null;
  const body = h("div", null);
  const pager = h("div", { class: "pager" });
  const replaySelected = h("button", { type: "button", class: "btn btn-small", disabled: true }, "Replay selected");
  const replayAll = h("button", { type: "button", class: "btn btn-small btn-primary" }, "Replay all");
  const syncButtons = () => {
    replaySelected.disabled = !selected.size;
    replaySelected.textContent = selected.size ? `Replay selected (${selected.size})` : "Replay selected";
  };
  const replay = async (ids) => {
    try {
      const answer = await api.post(`${path}/dead-letters/replay`, ids ? { ids } : {});
      toast(`${answer.replayed} dead letter${answer.replayed === 1 ? "" : "s"} queued again.`);
      selected.clear();
      syncButtons();
      lastKey = null;
      refresh();
    } catch (err) { toast(err.message, "bad"); }
  };
  replaySelected.addEventListener("click", () => replay([...selected]));
  replayAll.addEventListener("click", () => replay(null));

  const load = async () => {
    const page = await api.get(`${path}/dead-letters`, { limit: DEAD_PAGE, offset });
    const key = JSON.stringify(page);
    if (key === lastKey) return;
    lastKey = key;
    const ids = new Set(page.data.map((d) => d.delivery_id));
    for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
    syncButtons();
    replayAll.disabled = !page.meta.total;
    replace(body, table([
      {
        title: "", class: "check-cell",
        cell: (d) => h("input", {
          type: "checkbox", "aria-label": `Select ${d.delivery_id}`, checked: selected.has(d.delivery_id),
          onchange: (e) => { if (e.target.checked) selected.add(d.delivery_id); else selected.delete(d.delivery_id); syncButtons(); },
        }),
      },
      { title: "Delivery id", cell: (d) => h("span", { class: "mono small" }, d.delivery_id) },
      { title: "Event", cell: (d) => h("span", { class: "mono" }, d.event) },
      { title: "Attempts", class: "num", cell: (d) => String(d.attempts) },
      { title: "Last status", class: "num", cell: (d) => (d.status === null ? "–" : String(d.status)) },
      { title: "Reason", cell: (d) => d.reason || "–" },
      { title: "Failed at", class: "nowrap", cell: (d) => fmtTime(d.failed_at * 1000) },
      {
        title: "Event / response",
        cell: (d) => h("span", { class: "payload-cell" },
          h("button", { type: "button", class: "link", onclick: () => textDialog(`Event ${d.delivery_id}`, JSON.stringify(d.payload, null, 2)) }, "event"),
          d.response ? h("button", { type: "button", class: "link", onclick: () => textDialog("Last response", d.response) }, "response") : null),
      },
    ], page.data, { empty: "No dead letters: every event was delivered or is still being tried.", label: "Dead letters" }));
    const { total, count } = page.meta;
    replace(pager, total ? h("span", { class: "muted" }, `${offset + 1}–${offset + count} of ${total}`) : null,
      h("button", { type: "button", class: "btn btn-small", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - DEAD_PAGE); load(); } }, "‹ Previous"),
      h("button", { type: "button", class: "btn btn-small", disabled: offset + count >= total, onclick: () => { offset += DEAD_PAGE; load(); } }, "Next ›"));
  };
  replace(panel, h("div", { class: "toolbar" }, replaySelected, replayAll,
    h("span", { class: "muted small" }, "Replaying queues the events again; they are sent with the current settings.")), body, pager);
  return { load };
}
