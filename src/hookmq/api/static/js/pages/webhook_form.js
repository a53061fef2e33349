// Create / edit a webhook: every field of the model, the Test button next to the URL, and the API's validation
// errors shown at the fields they name.

import { fmtDuration, fmtMs, fmtSize, h, pageHeader, replace, spinner, toast } from "../dom.js";
import { api, ApiError, seg } from "../api.js";

export const EVENT_TITLES = {
  "message.publish": "Message published",
  "message.delivered": "Message delivered",
  "message.acked": "Message acknowledged",
  "message.dropped": "Message dropped (no subscriber)",
  "delivery.dropped": "Delivery dropped",
  "client.connected": "Connection established",
  "client.disconnected": "Connection terminated",
  "client.connack": "Connection acknowledged",
  "client.check_authz_complete": "Authorization checked",
  "client.check_authn_complete": "Authentication checked",
  "session.subscribed": "Subscribed",
  "session.unsubscribed": "Unsubscribed",
};

const FALLBACK_DEFAULTS = {
  name: "", description: "", enable: true, events: ["all"], topics: [], method: "POST", url: "http://",
  headers: { "content-type": "application/json" }, body: null, payload_encoding: "plain", connect_timeout: 15,
  request_timeout: 15, pool_size: 8, max_inflight: 32, ordering: "none", queue_max_bytes: 1024 ** 3,
  overflow: "drop_oldest", dead_letters_max: 100000, secret: null, batch_size: 1, batch_time: 0,
  retry: { initial_backoff: 1, factor: 2, max_backoff: 300, max_age: 86400, max_attempts: 0, retry_statuses: [408, 425, 429, 500, 502, 503, 504] },
};

const REASONS = {
  200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently", 302: "Found",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  408: "Request Timeout", 410: "Gone", 413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
  425: "Too Early", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
  503: "Service Unavailable", 504: "Gateway Timeout",
};

const OUTCOME_TEXT = {
  success: "A real delivery would succeed.",
  retry: "A real delivery would be retried later.",
  failed: "A real delivery would fail at once and go to the dead letters.",
  gone: "410 Gone: a real delivery would disable the webhook.",
};

let defaultsCache = null;

/** Defaults of a new webhook, from the API's own OpenAPI document (so the form never disagrees with it). */
async function defaults() {
  if (defaultsCache) return defaultsCache;
  const out = structuredClone(FALLBACK_DEFAULTS);
  try {
    const doc = await (await fetch("/api/v1/openapi.json", { cache: "no-store" })).json();
    const schemas = doc.components.schemas;
    for (const [key, prop] of Object.entries(schemas.WebhookConfig.properties)) {
      if ("default" in prop && key !== "retry" && key !== "events") out[key] = prop.default;
    }
    for (const [key, prop] of Object.entries(schemas.RetryPolicy.properties)) {
      if ("default" in prop) out.retry[key] = prop.default;
    }
  } catch { /* the built-in defaults are the same */ }
  out.events = ["all"];  // the EMQX Get Started choice; the model's own default is message.publish
  out.url = "http://";
  defaultsCache = out;
  return out;
}

let uid = 0;
const nextId = (key) => `wh-${key.replace(/[^a-z0-9]+/gi, "-")}-${(uid += 1)}`;

export function page(ctx) {
  const name = ctx.params.name;
  const editing = name !== undefined;
  const el = h("div", null, pageHeader(editing ? name : "Create webhook", {
    crumbs: [h("a", { href: "#/webhooks" }, "Webhooks"), editing ? [" / ", h("a", { href: `#/webhooks/${seg(name)}` }, name)] : null],
    subtitle: editing ? "Settings" : "Send messages and events to an HTTP endpoint.",
  }), h("div", { class: "card" }, spinner(), " Loading…"));
  Promise.all([editing ? api.get(`/webhooks/${seg(name)}`) : defaults(), api.get("/events")])
    .then(([webhook, catalogue]) => {
      if (ctx.scope.alive) el.lastChild.replaceWith(buildForm(ctx, webhook, catalogue, editing));
    })
    .catch((err) => {
      if (err.status !== 401) replace(el.lastChild, h("div", { class: "alert alert-bad", role: "alert" }, err.message));
    });
  return { title: editing ? `${name} settings` : "Create webhook", el };
}

function buildForm(ctx, w, catalogue, editing) {
  const readOnly = Boolean(w.read_only);
  const fields = new Map();  // error key -> {wrap, error, input, section}
  const byName = Object.fromEntries(catalogue.map((e) => [e.name, e]));

  function field(key, label, input, { hint, wide, section, addon } = {}) {
    input.id = input.id || nextId(key);
    const error = h("div", { class: "field-error", id: `${input.id}-error`, "aria-live": "polite" });
    input.setAttribute("aria-describedby", `${input.id}-error`);
    const hintEl = hint ? h("div", { class: "hint" }, hint) : null;
    const wrap = h("div", { class: ["field", wide && "field-wide"], "data-field": key },
      h("label", { for: input.id }, label), addon ? h("div", { class: "addon-group" }, input, addon) : input, hintEl, error);
    fields.set(key, { wrap, error, input, section });
    return wrap;
  }
  const text = (value, attrs = {}) => h("input", { type: "text", value: value ?? "", spellcheck: "false", ...attrs });
  const select = (value, options) => h("select", null,
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));

  // ---------------------------------------------------------------- basics
  const nameInput = text(w.name, { autocomplete: "off", placeholder: "my_webhook", disabled: editing });
  const ruleId = h("span", { class: "addon" }, "_WH_D");
  const description = text(w.description, { placeholder: "What it is for (optional)" });
  const basics = h("section", { class: "card" }, h("h2", { class: "card-title" }, "Webhook"),
    h("div", { class: "form-grid" },
      field("name", "Name", nameInput, { addon: ruleId, hint: editing ? "A webhook cannot be renamed." : "Letters, digits, - and _. Events carry metadata.rule_id <name>_WH_D." }),
      field("description", "Note", description)));

  // ---------------------------------------------------------------- trigger
  const all = w.events.includes("all");
  const radioAll = h("input", { type: "radio", name: "trigger", value: "all", checked: all, id: nextId("trigger-all") });
  const radioSome = h("input", { type: "radio", name: "trigger", value: "some", checked: !all, id: nextId("trigger-some") });
  const checks = new Map();
  const eventBox = (spec) => {
    const box = h("input", { type: "checkbox", value: spec.name, checked: !all && w.events.includes(spec.name),
      id: nextId(spec.name), "aria-label": eventTitle(spec) });
    checks.set(spec.name, box);
    return h("label", { class: "check", for: box.id, title: spec.description }, box,
      h("span", null, eventTitle(spec), h("span", { class: "check-sub mono" }, spec.name)));
  };
  const messages = catalogue.filter((e) => e.group === "message");
  const others = catalogue.filter((e) => e.group !== "message");
  const topicList = listEditor(w.topics, { placeholder: "t/#", addLabel: "+ Add topic filter", label: "Topic filter" });
  const choice = h("div", { class: "trigger-choice" },
    h("div", { class: "check-group", role: "group", "aria-label": "Messages" }, h("h3", null, "Messages"), messages.map(eventBox)),
    h("div", { class: "check-group", role: "group", "aria-label": "Events" }, h("h3", null, "Client and session events"), others.map(eventBox)));
  const triggerWrap = h("div", { class: "field field-wide", "data-field": "events" },
    h("div", { class: "radio-row", role: "radiogroup", "aria-label": "Trigger" },
      h("label", { class: "radio", for: radioAll.id }, radioAll, "All messages and events"),
      h("label", { class: "radio", for: radioSome.id }, radioSome, "Selected messages and events")),
    choice, h("div", { class: "field-error", id: "wh-events-error" }));
  fields.set("events", { wrap: triggerWrap, error: triggerWrap.lastChild, input: radioSome });
  const trigger = h("section", { class: "card" }, h("h2", { class: "card-title" }, "Trigger"),
    triggerWrap,
    field("topics", "Topic filters", topicList.el, { wide: true, hint: "Message events only; none = every topic (#). Client and session events are not filtered." }));
  const syncTrigger = () => {
    choice.classList.toggle("hidden", radioAll.checked);
    refreshFields();
  };
  radioAll.addEventListener("change", syncTrigger);
  radioSome.addEventListener("change", syncTrigger);
  choice.addEventListener("change", () => refreshFields());

  // ---------------------------------------------------------------- request
  const method = select(w.method, [["POST", "POST"], ["PUT", "PUT"], ["GET", "GET"], ["DELETE", "DELETE"]]);
  method.setAttribute("aria-label", "Method");
  const url = text(w.url, { type: "url", placeholder: "http://127.0.0.1:5000/", autocomplete: "off" });
  const sample = select("message.publish", catalogue.map((e) => [e.name, e.name]));
  sample.setAttribute("aria-label", "Sample event for the test");
  sample.id = nextId("sample");
  const testButton = h("button", { type: "button", class: "btn btn-test", "data-keep": "" }, "Test");
  const testResult = h("div", { class: "test-result hidden", "aria-live": "polite", "data-testid": "test-result" });
  const urlField = field("url", "URL", url, { wide: true, hint: "http:// or https://; ${var} templates allowed in the path and query, e.g. http://host/devices/${clientid}" });
  const urlRow = h("div", { class: "url-row" }, method);
  url.replaceWith(urlRow);
  urlRow.append(url, testButton);
  urlField.insertBefore(h("div", { class: "sample-row" }, h("label", { for: sample.id }, "Test sends a sample"), sample), urlField.querySelector(".hint"));
  urlField.append(testResult);
  fields.set("method", { wrap: urlField, error: fields.get("url").error, input: method });

  const headers = headerEditor(w.headers);
  const bodyInput = h("textarea", { rows: 7, spellcheck: "false", class: "mono", placeholder: "Empty: the whole event as JSON, as EMQX sends it.\nA template, e.g. {\"device\": \"${clientid}\", \"temp\": ${payload.temp}}" }, w.body ?? "");
  const fieldList = h("div", { class: "chips", "aria-label": "Event fields" });
  const encoding = select(w.payload_encoding, [["plain", "plain: UTF-8 text (EMQX)"], ["base64", "base64: binary-safe"]]);
  const request = h("section", { class: "card" }, h("h2", { class: "card-title" }, "Request"),
    urlField,
    field("headers", "Headers", headers.el, { wide: true, hint: "Values may use ${var}. Authorization values are stored secret and shown as ******." }),
    h("div", { class: "body-grid" },
      field("body", "Body template", bodyInput),
      h("div", { class: "field-list" }, h("div", { class: "field-list-title" }, "Fields of the chosen events"),
        h("div", { class: "hint" }, "Click to insert. ${payload.x} reads a JSON payload."), fieldList)),
    h("div", { class: "form-grid" }, field("payload_encoding", "Payload encoding", encoding)));
  const syncMethod = () => {
    const noBody = method.value === "GET" || method.value === "DELETE";
    bodyInput.disabled = noBody || readOnly;
    bodyInput.placeholder = noBody ? `${method.value} requests carry no body.` : bodyInput.placeholder;
  };
  method.addEventListener("change", syncMethod);

  function chosenEvents() {
    if (radioAll.checked) return catalogue.map((e) => e.name);
    return [...checks].filter(([, box]) => box.checked).map(([n]) => n);
  }

  function refreshFields() {
    const chosen = chosenEvents().map((n) => byName[n]).filter(Boolean);
    const counts = new Map();
    for (const spec of chosen) {
      for (const f of spec.fields) {
        const entry = counts.get(f.name) || { f, events: [] };
        entry.events.push(spec.name);
        counts.set(f.name, entry);
      }
    }
    const entries = [...counts.values()].sort((a, b) => b.events.length - a.events.length || a.f.name.localeCompare(b.f.name));
    replace(fieldList, chosen.length ? entries.map(({ f, events }) => h("button", {
      type: "button", class: ["chip", events.length < chosen.length && "chip-partial"],
      title: `${f.type}: ${f.description}${events.length < chosen.length ? ` (only in ${events.join(", ")})` : ""}`,
      onclick: () => insertAtCursor(bodyInput, `\${${f.name}}`),
    }, f.name)) : h("span", { class: "muted small" }, "Choose events to see their fields."));
  }

  // ---------------------------------------------------------------- advanced
  const r = w.retry;
  const adv = {
    connect_timeout: text(fmtDuration(w.connect_timeout), { placeholder: "15s" }),
    request_timeout: text(fmtDuration(w.request_timeout), { placeholder: "15s" }),
    pool_size: h("input", { type: "number", min: 1, max: 1024, value: w.pool_size }),
    max_inflight: h("input", { type: "number", min: 1, max: 10000, value: w.max_inflight }),
    ordering: select(w.ordering, [["none", "none: in parallel"], ["client", "client: one client's events in order"], ["topic", "topic: one topic's events in order"]]),
    batch_size: h("input", { type: "number", min: 1, max: 1000, value: w.batch_size }),
    batch_time: text(String(w.batch_time), { placeholder: "0" }),
    "retry.initial_backoff": text(fmtDuration(r.initial_backoff), { placeholder: "1s" }),
    "retry.factor": h("input", { type: "number", min: 1, max: 10, step: "0.1", value: r.factor }),
    "retry.max_backoff": text(fmtDuration(r.max_backoff), { placeholder: "5m" }),
    "retry.max_age": text(fmtDuration(r.max_age), { placeholder: "1d" }),
    "retry.max_attempts": h("input", { type: "number", min: 0, value: r.max_attempts }),
    "retry.retry_statuses": text(r.retry_statuses.join(", "), { placeholder: "408, 425, 429, 500, 502, 503, 504" }),
    queue_max_bytes: text(fmtSize(w.queue_max_bytes), { placeholder: "1GiB" }),
    dead_letters_max: text(String(w.dead_letters_max ?? 100000), { placeholder: "100000" }),
    overflow: select(w.overflow, [["drop_oldest", "drop the oldest events"], ["drop_new", "drop new events"]]),
    secret: text(w.secret ?? "", { class: "mono", autocomplete: "off", placeholder: "none: requests are not signed" }),
  };
  const generate = h("button", { type: "button", class: "btn btn-small", onclick: () => { adv.secret.value = newSecret(); } }, "Generate");
  const enable = h("input", { type: "checkbox", checked: w.enable, id: nextId("enable") });
  const advanced = h("details", { class: "card advanced" },
    h("summary", { class: "card-title" }, "Advanced settings"),
    h("h3", null, "Connection"),
    h("div", { class: "form-grid" },
      field("connect_timeout", "Connect timeout", adv.connect_timeout, { hint: "e.g. 15s, 500ms", section: "adv" }),
      field("request_timeout", "Request timeout", adv.request_timeout, { hint: "Waiting for the answer", section: "adv" }),
      field("pool_size", "Connection pool size", adv.pool_size, { hint: "Keep-alive connections", section: "adv" }),
      field("max_inflight", "Max in-flight requests", adv.max_inflight, { hint: "Sent and not yet answered", section: "adv" })),
    h("h3", null, "Delivery"),
    h("div", { class: "form-grid" },
      field("ordering", "Ordering", adv.ordering, { hint: "Ordered keys are delivered one event at a time", section: "adv" }),
      field("batch_size", "Batch size", adv.batch_size, { hint: "Events per request; 1 = no batching (JSON array otherwise)", section: "adv" }),
      field("batch_time", "Batch time (ms)", adv.batch_time, { hint: "Longest wait for a batch to fill", section: "adv" })),
    h("h3", null, "Retry policy"),
    h("div", { class: "form-grid" },
      field("retry.initial_backoff", "Initial backoff", adv["retry.initial_backoff"], { section: "adv" }),
      field("retry.factor", "Backoff factor", adv["retry.factor"], { section: "adv" }),
      field("retry.max_backoff", "Max backoff", adv["retry.max_backoff"], { section: "adv" }),
      field("retry.max_age", "Give up after", adv["retry.max_age"], { hint: "Then the event is a dead letter", section: "adv" }),
      field("retry.max_attempts", "Max attempts", adv["retry.max_attempts"], { hint: "0 = unlimited (until the age limit)", section: "adv" }),
      field("retry.retry_statuses", "Retried statuses", adv["retry.retry_statuses"], { hint: "Connection errors are always retried", section: "adv" })),
    h("h3", null, "Queue"),
    h("div", { class: "form-grid" },
      field("queue_max_bytes", "Queue budget", adv.queue_max_bytes, { hint: "Durable queue size, e.g. 512MB, 1GiB", section: "adv" }),
      field("overflow", "When the queue is full", adv.overflow, { hint: "Every drop is counted", section: "adv" }),
      field("dead_letters_max", "Dead letters kept", adv.dead_letters_max, { hint: "The oldest go first; 0 = keep all", section: "adv" })),
    h("h3", null, "Signing"),
    h("div", { class: "form-grid" },
      field("secret", "Signing secret", adv.secret, {
        wide: true, section: "adv", addon: generate,
        hint: "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature headers). Copy a new secret before saving: it is shown as ****** afterwards.",
      })),
    editing ? null : h("div", { class: "field-wide" },
      h("label", { class: "check", for: enable.id }, enable, h("span", null, "Enabled: start delivering as soon as it is saved"))));

  // ---------------------------------------------------------------- actions
  const summary = h("div", { class: "alert alert-bad hidden", role: "alert", "data-testid": "form-errors" });
  const save = h("button", { type: "submit", class: "btn btn-primary" }, editing ? "Save" : "Create");
  const cancel = h("a", { class: "btn", href: editing ? `#/webhooks/${seg(w.name)}` : "#/webhooks" }, "Cancel");
  const banner = readOnly ? h("div", { class: "alert alert-info", role: "note" },
    h("strong", null, "Read-only. "),
    "This webhook is defined in the node's config file. Change it there and restart the node; here you can test it and enable or disable it (until the restart).") : null;
  const form = h("form", { class: "webhook-form", novalidate: true, "aria-label": "Webhook settings" },
    banner, summary, basics, trigger, request, advanced,
    readOnly ? null : h("div", { class: "form-actions" }, cancel, save));

  function collect() {
    const out = {
      name: nameInput.value.trim(),
      description: description.value,
      events: radioAll.checked ? ["all"] : chosenEvents(),
      topics: topicList.values(),
      method: method.value,
      url: url.value.trim(),
      headers: headers.values(),
      body: method.value === "GET" || method.value === "DELETE" || !bodyInput.value.trim() ? null : bodyInput.value,
      payload_encoding: encoding.value,
      ordering: adv.ordering.value,
      overflow: adv.overflow.value,
      secret: adv.secret.value.trim() || null,
      retry: {},
    };
    if (!editing) out.enable = enable.checked;
    else out.enable = w.enable;
    for (const key of ["connect_timeout", "request_timeout", "batch_time", "queue_max_bytes"]) {
      const v = adv[key].value.trim();
      if (v) out[key] = /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    }
    for (const key of ["pool_size", "max_inflight", "batch_size", "dead_letters_max"]) {
      const v = adv[key].value.trim();
      if (v) out[key] = /^-?\d+$/.test(v) ? Number(v) : v;
    }
    for (const key of ["initial_backoff", "max_backoff", "max_age"]) {
      const v = adv[`retry.${key}`].value.trim();
      if (v) out.retry[key] = /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    }
    const factor = adv["retry.factor"].value.trim();
    if (factor) out.retry.factor = Number.isNaN(Number(factor)) ? factor : Number(factor);
    const attempts = adv["retry.max_attempts"].value.trim();
    if (attempts) out.retry.max_attempts = /^-?\d+$/.test(attempts) ? Number(attempts) : attempts;
    const statuses = adv["retry.retry_statuses"].value.split(/[\s,]+/).filter(Boolean);
    out.retry.retry_statuses = statuses.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    return out;
  }

  function clearErrors() {
    summary.className = "alert alert-bad hidden";
    replace(summary);
    for (const { wrap, error, input } of fields.values()) {
      wrap.classList.remove("invalid");
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    }
  }

  /** Put each "field: message" line of a 400 next to its field; the rest in the summary at the top. */
  function showErrors(err) {
    clearErrors();
    const lines = err.errors.length ? err.errors : [err.message];
    const loose = [];
    let first = null;
    const prefix = `webhooks[${nameInput.value.trim()}]`;
    for (const line of lines) {
      const cut = line.indexOf(": ");
      let where = cut > 0 ? line.slice(0, cut) : "";
      const message = cut > 0 ? line.slice(cut + 2) : line;
      if (where.startsWith(prefix)) where = where.slice(prefix.length);
      else where = where.replace(/^webhooks\[.*?\]/, "");
      where = where.replace(/^\./, "").replace(/\[\d+\]$/, "");
      const target = fields.get(where) || fields.get(where.split(".")[0]);
      if (!target) { loose.push(line); continue; }
      target.wrap.classList.add("invalid");
      target.error.textContent = target.error.textContent ? `${target.error.textContent}; ${message}` : message;
      target.input.setAttribute("aria-invalid", "true");
      if (target.section === "adv") advanced.open = true;
      first = first || target;
    }
    summary.className = "alert alert-bad";
    replace(summary, h("strong", null, err.status === 400 ? "Please correct the highlighted settings." : err.message),
      loose.length && err.status === 400 ? h("ul", null, loose.map((l) => h("li", null, l))) : null);
    (first ? first.wrap : summary).scrollIntoView({ block: "center" });
    if (first && first.input.focus) first.input.focus({ preventScroll: true });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (readOnly) return;
    save.disabled = true;
    clearErrors();
    const data = collect();
    try {
      const saved = editing ? await api.put(`/webhooks/${seg(w.name)}`, data) : await api.post("/webhooks", data);
      toast(editing ? `Webhook ${saved.name} saved.` : `Webhook ${saved.name} created.`);
      ctx.navigate(`#/webhooks/${seg(saved.name)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status !== 401) showErrors(err);
    } finally {
      save.disabled = false;
    }
  });

  testButton.addEventListener("click", async () => {
    testButton.disabled = true;
    const label = testButton.textContent;
    replace(testButton, spinner(), " Testing…");
    testResult.className = "test-result";
    replace(testResult, h("span", { class: "muted" }, `Sending a sample ${sample.value} to the URL…`));
    try {
      const query = { event: sample.value };
      let result;
      if (readOnly) result = await api.post(`/webhooks/${seg(w.name)}/test`, undefined, query);
      else if (editing) result = await api.post(`/webhooks/${seg(w.name)}/test`, collect(), query);
      else result = await api.post("/webhooks/test", collect(), query);
      clearErrors();
      showTestResult(testResult, result);
    } catch (err) {
      testResult.className = "test-result hidden";
      if (err instanceof ApiError && err.status !== 401) showErrors(err);
    } finally {
      testButton.disabled = false;
      replace(testButton, label);
    }
  });

  if (readOnly) {
    for (const control of form.querySelectorAll("input, select, textarea, button")) {
      if (!control.hasAttribute("data-keep") && control !== sample) control.disabled = true;
    }
  }
  syncTrigger();
  syncMethod();
  if (!editing) queueMicrotask(() => nameInput.focus());
  return form;
}

function eventTitle(spec) {
  return EVENT_TITLES[spec.name] || spec.description;
}

function insertAtCursor(textarea, value) {
  if (textarea.disabled) return;
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? start;
  textarea.value = textarea.value.slice(0, start) + value + textarea.value.slice(end);
  textarea.focus();
  textarea.setSelectionRange(start + value.length, start + value.length);
}

/** whsec_ + base64 of 32 random bytes: a Standard Webhooks secret, made in the browser. */
function newSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

function listEditor(values, { placeholder, addLabel, label }) {
  const rows = h("div", { class: "list-rows" });
  const add = (value = "") => {
    const input = h("input", { type: "text", value, placeholder, "aria-label": label, spellcheck: "false", class: "mono" });
    const row = h("div", { class: "list-row" }, input,
      h("button", { type: "button", class: "btn btn-icon", "aria-label": `Remove ${label.toLowerCase()}`, onclick: () => row.remove() }, "×"));
    rows.append(row);
    return input;
  };
  values.forEach((v) => add(v));
  const el = h("div", { class: "list-editor" }, rows,
    h("button", { type: "button", class: "btn btn-small btn-ghost", onclick: () => add().focus() }, addLabel));
  return { el, values: () => [...rows.querySelectorAll("input")].map((i) => i.value.trim()).filter(Boolean) };
}

function headerEditor(headers) {
  const rows = h("div", { class: "list-rows" });
  const add = (key = "", value = "") => {
    const k = h("input", { type: "text", value: key, placeholder: "name", "aria-label": "Header name", spellcheck: "false", class: "mono" });
    const v = h("input", { type: "text", value, placeholder: "value", "aria-label": "Header value", spellcheck: "false", class: "mono" });
    const row = h("div", { class: "list-row header-row" }, k, v,
      h("button", { type: "button", class: "btn btn-icon", "aria-label": "Remove header", onclick: () => row.remove() }, "×"));
    rows.append(row);
    return k;
  };
  Object.entries(headers || {}).forEach(([k, v]) => add(k, v));
  const el = h("div", { class: "list-editor" }, rows,
    h("button", { type: "button", class: "btn btn-small btn-ghost", onclick: () => add().focus() }, "+ Add header"));
  return {
    el,
    values() {
      const out = {};
      for (const row of rows.children) {
        const [k, v] = row.querySelectorAll("input");
        if (k.value.trim()) out[k.value.trim()] = v.value;
      }
      return out;
    },
  };
}

/** The Test answer: status, latency, what a delivery would do, response headers and body, the request sent. */
export function showTestResult(el, result) {
  const kind = result.ok ? "ok" : result.outcome === "retry" ? "warn" : "bad";
  const head = result.status === null
    ? h("div", { class: "test-head" }, h("span", { class: "badge badge-bad" }, "No response"),
      h("span", { class: "test-error" }, result.error), h("span", { class: "muted" }, fmtMs(result.latency_ms)))
    : h("div", { class: "test-head" },
      h("span", { class: ["badge", `badge-${kind}`, "test-status"] }, `${result.status} ${REASONS[result.status] || ""}`.trim()),
      h("span", { class: "muted" }, fmtMs(result.latency_ms)),
      h("span", null, OUTCOME_TEXT[result.outcome] || result.outcome));
  el.className = `test-result test-${kind}`;
  replace(el, head,
    result.status === null ? h("div", { class: "small muted" }, "A real delivery would be retried (connection errors always are).") : [
      result.headers.length ? h("details", { class: "test-section" }, h("summary", null, `Response headers (${result.headers.length})`),
        h("table", { class: "kv" }, h("tbody", null, result.headers.map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, v)))))) : null,
      h("div", { class: "test-section" }, h("div", { class: "small muted" }, "Response body"),
        h("pre", { class: "code", "data-testid": "test-response-body" }, result.body || "(empty)")),
    ],
    h("details", { class: "test-section" }, h("summary", null, "Request sent"),
      h("pre", { class: "code" }, `${result.request.method} ${result.request.url}\n${
        (result.request.headers || []).map(([k, v]) => `${k}: ${v}`).join("\n")}\n\n${result.request.body || ""}`)));
}
