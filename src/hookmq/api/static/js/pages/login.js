// Login, and the password change forced at first login (the API refuses everything else until then).

import { h, toast } from "../dom.js";
import { api, ApiError, session } from "../api.js";

function authCard(title, subtitle, ...body) {
  return h("div", { class: "auth" },
    h("div", { class: "auth-card" },
      h("div", { class: "auth-brand" }, h("img", { src: "/static/favicon.svg", alt: "", width: 40, height: 40 }),
        h("span", null, "hookmq")),
      h("h1", null, title),
      subtitle ? h("p", { class: "subtitle" }, subtitle) : null,
      ...body));
}

function field(label, input, hint) {
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input,
    hint ? h("div", { class: "hint" }, hint) : null, h("div", { class: "field-error", id: `${input.id}-error` }));
}

export function loginPage(ctx) {
  const username = h("input", { id: "login-username", name: "username", autocomplete: "username", required: true, value: "admin" });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const message = ctx.takeLoginMessage();
  const alert = h("div", { class: ["alert", message ? "alert-info" : "hidden"], role: "alert" }, message || "");
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Log in");
  const form = h("form", { class: "form", novalidate: true },
    alert, field("Username", username), field("Password", password), submit,
    h("p", { class: "hint center" }, "A new node's login is admin / public; you choose a new password next."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const answer = await api.login(username.value.trim(), password.value);
      session.save(answer);
      ctx.afterLogin();
    } catch (err) {
      alert.className = "alert alert-bad";
      alert.textContent = err.status === 401 ? "Wrong username or password." : err.message;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => (username.value ? password : username).focus());
  return { title: "Log in", el: authCard("Log in", "MQTT broker with webhooks", form) };
}

export function passwordPage(ctx) {
  const forced = session.passwordChangeRequired;
  const old = h("input", { id: "password-old", type: "password", autocomplete: "current-password", required: true });
  const fresh = h("input", { id: "password-new", type: "password", autocomplete: "new-password", required: true, minlength: 8 });
  const again = h("input", { id: "password-confirm", type: "password", autocomplete: "new-password", required: true });
  const alert = h("div", { class: "alert hidden", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Change password");
  const inputs = { old_password: old, new_password: fresh, confirm: again };
  const showError = (name, text) => {
    const input = inputs[name];
    input.setAttribute("aria-invalid", "true");
    document.getElementById(`${input.id}-error`).textContent = text;
  };
  const form = h("form", { class: "form", novalidate: true }, alert,
    field("Current password", old),
    field("New password", fresh, "At least 8 characters."),
    field("Confirm new password", again),
    submit,
    h("div", { class: "auth-links" },
      forced ? null : h("a", { href: "#/overview" }, "Cancel"),
      h("button", { type: "button", class: "link", onclick: () => ctx.logout() }, "Log out")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const input of Object.values(inputs)) {
      input.removeAttribute("aria-invalid");
      document.getElementById(`${input.id}-error`).textContent = "";
    }
    alert.className = "alert hidden";
    if (fresh.value.length < 8) return showError("new_password", "At least 8 characters.");
    if (fresh.value !== again.value) return showError("confirm", "The two new passwords differ.");
    submit.disabled = true;
    try {
      await api.put("/password", { old_password: old.value, new_password: fresh.value });
      session.passwordChanged();
      toast("Password changed.");
      ctx.afterLogin();
    } catch (err) {
      let shown = false;
      if (err instanceof ApiError) {
        for (const line of err.errors) {
          const [name, ...rest] = line.split(": ");
          if (inputs[name]) { showError(name, rest.join(": ")); shown = true; }
        }
      }
      if (!shown) {
        alert.className = "alert alert-bad";
        alert.textContent = err.message;
      }
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => old.focus());
  const subtitle = forced
    ? "This node still uses the default password. Choose your own before you continue."
    : `Change the password of ${session.username}. Your other sessions are logged out.`;
  return { title: "Change password", el: authCard(forced ? "Choose a new password" : "Change password", subtitle, form) };
}
