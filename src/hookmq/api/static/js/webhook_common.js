// Pieces shared by the webhook pages.

import { confirmDialog, toast } from "./dom.js";
import { api, seg } from "./api.js";

export function triggerSummary(w) {
  const events = w.events.includes("all") ? "All messages and events" : w.events.join(", ");
  return w.topics.length ? `${events} · topics ${w.topics.join(", ")}` : events;
}

/** Enable or disable; returns the webhook as the API answers, or null (and says why) on failure. */
export async function setEnabled(w, enable) {
  try {
    const updated = await api.post(`/webhooks/${seg(w.name)}/${enable ? "enable" : "disable"}`);
    toast(`${w.name} ${enable ? "enabled" : "disabled"}${w.read_only ? " until the node restarts" : ""}.`);
    return updated;
  } catch (err) {
    toast(err.message, "bad");
    return null;
  }
}

/** Ask, then delete; true when deleted. */
export async function deleteWebhook(w, queue) {
  const waiting = queue ? ` Its ${queue.queued + queue.inflight} waiting events and ${queue.dead} dead letters are deleted too.` : " Events it still has queued and its dead letters are deleted too.";
  const ok = await confirmDialog({ title: `Delete webhook ${w.name}?`, message: `This cannot be undone.${waiting}` });
  if (!ok) return false;
  try {
    await api.del(`/webhooks/${seg(w.name)}`);
    toast(`Webhook ${w.name} deleted.`);
    return true;
  } catch (err) {
    toast(err.message, "bad");
    return false;
  }
}
