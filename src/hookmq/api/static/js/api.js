// The REST API client: the login token lives in sessionStorage (this tab only, gone when it closes) and is sent
// as "Authorization: Bearer"; never a cookie, so other sites cannot make the browser use it.

const TOKEN_KEY = "hookmq.token";
const EXPIRES_KEY = "hookmq.expires_at";
const CHANGE_KEY = "hookmq.password_change_required";
const USER_KEY = "hookmq.username";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "ERROR";
    this.errors = (body && body.errors) || [];
  }
}

const listeners = { unauthorized: [], passwordChange: [] };

/** Called with the message when the token is missing, wrong or expired (go back to the login page). */
export function onUnauthorized(fn) { listeners.unauthorized.push(fn); }
/** Called when the API answers 403 PASSWORD_CHANGE_REQUIRED. */
export function onPasswordChangeRequired(fn) { listeners.passwordChange.push(fn); }

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get username() { return sessionStorage.getItem(USER_KEY) || "admin"; },
  get passwordChangeRequired() { return sessionStorage.getItem(CHANGE_KEY) === "1"; },
  get expired() {
    const at = Number(sessionStorage.getItem(EXPIRES_KEY) || 0);
    return at > 0 && at * 1000 <= Date.now();
  },
  save(login) {
    sessionStorage.setItem(TOKEN_KEY, login.token);
    sessionStorage.setItem(EXPIRES_KEY, String(login.expires_at));
    sessionStorage.setItem(USER_KEY, login.username);
    sessionStorage.setItem(CHANGE_KEY, login.password_change_required ? "1" : "0");
  },
  passwordChanged() { sessionStorage.setItem(CHANGE_KEY, "0"); },
  clear() { for (const key of [TOKEN_KEY, EXPIRES_KEY, CHANGE_KEY, USER_KEY]) sessionStorage.removeItem(key); },
};

/** One API call: JSON in, JSON out (null for 204); ApiError for any other answer. */
export async function request(method, path, body, { query, auth = true } = {}) {
  let url = `/api/v1${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.append(key, String(value));
    }
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  const headers = { Accept: "application/json" };
  if (auth) {
    if (!session.token || session.expired) {
      session.clear();
      for (const fn of listeners.unauthorized) fn("Your session has expired. Please log in again.");
      throw new ApiError(401, { code: "UNAUTHORIZED", message: "not logged in" });
    }
    headers.Authorization = `Bearer ${session.token}`;
  }
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, { code: "NETWORK", message: `the node did not answer (${err.message})` });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 200) }; }
  }
  if (response.ok) return data;
  const error = new ApiError(response.status, data);
  if (auth && response.status === 401) {
    session.clear();
    for (const fn of listeners.unauthorized) fn("Your session has expired. Please log in again.");
  } else if (response.status === 403 && error.code === "PASSWORD_CHANGE_REQUIRED") {
    for (const fn of listeners.passwordChange) fn();
  }
  throw error;
}

export const api = {
  get: (path, query) => request("GET", path, undefined, { query }),
  post: (path, body, query) => request("POST", path, body, { query }),
  put: (path, body) => request("PUT", path, body),
  del: (path) => request("DELETE", path),
  login: (username, password) => request("POST", "/login", { username, password }, { auth: false }),
  health: () => request("GET", "/health", undefined, { auth: false }),
};

/** A path segment: names, client ids and topics may hold "/", "#", "?", spaces. */
export const seg = (value) => encodeURIComponent(value);
