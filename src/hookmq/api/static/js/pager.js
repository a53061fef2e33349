// A filtered, paged table of one list endpoint ({data, meta: {limit, offset, count, total}}).

import { h, replace, table } from "./dom.js";

/**
 * `load(query)` returns a page; `filters` are [{name, label, placeholder}] text inputs sent as query
 * parameters; `columns` as for `table`. Returns {el, reload}.
 */
export function pagedTable({ load, filters = [], columns, empty, label, limit = 50, initial = {} }) {
  let offset = 0;
  const inputs = filters.map((f) => h("input", {
    type: "search", name: f.name, placeholder: f.placeholder, "aria-label": f.label, value: initial[f.name] || "",
  }));
  const body = h("div", null);
  const info = h("span", { class: "muted" });
  const prev = h("button", { type: "button", class: "btn btn-small", onclick: () => { offset = Math.max(0, offset - limit); reload(); } }, "‹ Previous");
  const next = h("button", { type: "button", class: "btn btn-small", onclick: () => { offset += limit; reload(); } }, "Next ›");
  const error = h("div", { class: "alert alert-bad hidden", role: "alert" });
  const form = h("form", { class: "toolbar", role: "search" },
    inputs, h("button", { type: "submit", class: "btn" }, "Search"),
    h("button", { type: "button", class: "btn btn-ghost", onclick: () => reload() }, "↻ Refresh"));
  form.addEventListener("submit", (event) => { event.preventDefault(); offset = 0; reload(); });

  async function reload() {
    const query = { limit, offset };
    filters.forEach((f, i) => { if (inputs[i].value.trim()) query[f.name] = inputs[i].value.trim(); });
    try {
      const page = await load(query);
      error.className = "alert alert-bad hidden";
      replace(body, table(columns, page.data, { empty, label }));
      const { total, count } = page.meta;
      info.textContent = total ? `${offset + 1}–${offset + count} of ${total}` : "";
      prev.disabled = offset === 0;
      next.disabled = offset + count >= total;
    } catch (err) {
      if (err.status === 401) return;
      error.className = "alert alert-bad";
      error.textContent = err.message;
    }
  }

  const el = h("div", { class: "card" }, form, error, body, h("div", { class: "pager" }, info, prev, next));
  return { el, reload };
}
