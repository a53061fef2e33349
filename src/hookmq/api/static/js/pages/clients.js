// Connected clients: search by client id, kick.

import { confirmDialog, fmtAgo, fmtInt, fmtTime, h, pageHeader, toast } from "../dom.js";
import { api, seg } from "../api.js";
import { pagedTable } from "../pager.js";

const PROTOCOLS = { 3: "MQTT 3.1", 4: "MQTT 3.1.1", 5: "MQTT 5.0" };

export function page() {
  const list = pagedTable({
    load: (query) => api.get("/clients", query),
    filters: [{ name: "like_clientid", label: "Search client id", placeholder: "Client id contains…" },
      { name: "username", label: "Username", placeholder: "Username (exact)" }],
    label: "Clients",
    empty: "No client is connected.",
    columns: [
      { title: "Client id", cell: (c) => h("span", { class: "mono" }, c.clientid) },
      { title: "Username", cell: (c) => c.username ?? h("span", { class: "muted" }, "–") },
      { title: "Address", cell: (c) => h("span", { class: "mono" }, c.peername) },
      { title: "Protocol", cell: (c) => `${PROTOCOLS[c.proto_ver] || c.proto_name} · ${c.listener}` },
      { title: "Keep alive", class: "num", cell: (c) => `${c.keepalive} s` },
      { title: "Session", cell: (c) => (c.clean_start && !c.expiry_interval ? "clean" : `expires ${c.expiry_interval} s`) },
      { title: "Connected", cell: (c) => h("span", { title: fmtTime(c.connected_at) }, fmtAgo(c.connected_at)) },
      { title: "Subs", class: "num", cell: (c) => fmtInt(c.subscriptions) },
      { title: "In flight / queued", class: "num", cell: (c) => `${fmtInt(c.inflight)} / ${fmtInt(c.queued)}` },
      {
        title: "", class: "actions",
        cell: (c) => h("button", {
          type: "button", class: "btn btn-small btn-danger-ghost", "aria-label": `Kick ${c.clientid}`,
          onclick: async () => {
            const ok = await confirmDialog({ title: "Kick client", confirm: "Kick",
              message: `Disconnect ${c.clientid}? An MQTT 5 client is told why (0x98, administrative action); a persistent session stays.` });
            if (!ok) return;
            try {
              await api.del(`/clients/${seg(c.clientid)}`);
              toast(`${c.clientid} was disconnected.`);
            } catch (err) {
              toast(err.message, "bad");
            }
            list.reload();
          },
        }, "Kick"),
      },
    ],
  });
  list.reload();
  return { title: "Clients", el: h("div", null, pageHeader("Clients", { subtitle: "MQTT clients connected now." }), list.el) };
}
