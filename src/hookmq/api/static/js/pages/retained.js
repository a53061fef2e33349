// Retained messages: list by topic filter, view a payload, delete.

import { confirmDialog, ellipsis, fmtBytes, fmtTime, h, pageHeader, textDialog, toast } from "../dom.js";
import { api, seg } from "../api.js";
import { pagedTable } from "../pager.js";

export function page() {
  const list = pagedTable({
    load: (query) => api.get("/retained", { ...query, topic: query.topic || "#" }),
    filters: [{ name: "topic", label: "Topic filter", placeholder: "Topic filter, e.g. sensors/+/temp (default #)" }],
    label: "Retained messages",
    empty: "No retained messages.",
    columns: [
      { title: "Topic", cell: (m) => h("span", { class: "mono" }, m.topic) },
      { title: "QoS", class: "num", cell: (m) => String(m.qos) },
      {
        title: "Payload",
        cell: (m) => h("span", { class: "payload-cell" },
          m.payload_encoding === "base64" ? h("span", { class: "tag" }, "base64") : null,
          ellipsis(m.payload, 60),
          h("button", { type: "button", class: "link", onclick: () => textDialog(`Payload of ${m.topic}`, m.payload) }, "view")),
      },
      { title: "Size", class: "num", cell: (m) => fmtBytes(m.payload_size) },
      { title: "From", cell: (m) => h("span", { class: "mono" }, m.from_clientid) },
      { title: "Published", class: "nowrap", cell: (m) => fmtTime(m.published_at) },
      {
        title: "", class: "actions",
        cell: (m) => h("button", {
          type: "button", class: "btn btn-small btn-danger-ghost", "aria-label": `Delete retained ${m.topic}`,
          onclick: async () => {
            if (!await confirmDialog({ title: "Delete retained message", message: `Delete the retained message of ${m.topic}?` })) return;
            try {
              await api.del(`/retained/${seg(m.topic)}`);
              toast("Retained message deleted.");
            } catch (err) {
              toast(err.message, "bad");
            }
            list.reload();
          },
        }, "Delete"),
      },
    ],
  });
  list.reload();
  return { title: "Retained", el: h("div", null, pageHeader("Retained messages", { subtitle: "The last retained message of each topic; new subscribers receive it at once." }), list.el) };
}
