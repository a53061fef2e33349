"""Who may call the API: public endpoints, 401 without or with wrong credentials, the forced change of the
default admin password (403), login rate limit, token expiry and logout, API keys (REST and ``hookmq apikey``
offline, picked up by the running node), the password store file, cross-site requests."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hookmq.api import models as m
from hookmq.api.keystore import STORE_FILE, AuthStore
from hookmq.config import ConfigError, load_settings
from hookmq.server import StartupError, start_node
from tests.api.client import NO_AUTH, Api, basic
from tests.api.conftest import fill, operations
from tests.helpers import ROOT, BrokerThread, make_settings

PUBLIC = {("GET", "/health"), ("GET", "/api/v1/health"), ("POST", "/api/v1/login"), ("GET", "/api/v1/openapi.json"),
          ("GET", "/api/docs"), ("GET", "/")}
DURING_PASSWORD_CHANGE = {("POST", "/api/v1/logout"), ("PUT", "/api/v1/password")}
NEW_PASSWORD = "correct horse battery"


def login(api: Api, password: str = "public", username: str = "admin") -> dict[str, Any]:
    return api.ok("POST", "/api/v1/login", {"username": username, "password": password}, auth=NO_AUTH,  # type: ignore[no-any-return]
                  model=m.LoginResponse)


def admin_api(node: BrokerThread) -> Api:
    """A client logged in as the admin, after the forced change of the default password."""
    api = Api(node.http_port)
    api.auth = "Bearer " + login(api)["token"]
    api.ok("PUT", "/api/v1/password", {"old_password": "public", "new_password": NEW_PASSWORD}, status=204)
    return api


def secured(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for method, path, op in operations(doc) if op.get("security") != []]


# ------------------------------------------------------------------------------------------------ public / 401


def test_public_endpoints_answer_without_credentials(node: BrokerThread, openapi_doc: dict[str, Any]) -> None:
    public = {(method, path) for method, path, op in operations(openapi_doc) if op.get("security") == []}
    assert public == PUBLIC
    api = Api(node.http_port)
    assert api.ok("GET", "/health", model=m.Health)["status"] == "ok"
    assert api.ok("GET", "/api/v1/health", model=m.Health)["node"] == "hookmq@127.0.0.1"
    assert api.get("/api/v1/openapi.json").status == 200
    docs = api.get("/api/docs")
    assert docs.status == 200 and docs.headers["content-type"].startswith("text/html")
    root = api.get("/")  # the dashboard: its own files only, no inline script or style
    assert root.status == 200 and root.headers["content-type"].startswith("text/html")
    assert "script-src 'self';" in root.headers["content-security-policy"]
    assert "unsafe-inline" not in root.headers["content-security-policy"]
    assert api.get("/static/js/app.js").status == 200
    api.post("/api/v1/login", {}).error(400, "BAD_REQUEST")


def test_every_other_endpoint_answers_401_without_valid_credentials(node: BrokerThread,
                                                                    openapi_doc: dict[str, Any]) -> None:
    api = Api(node.http_port)
    bad = [NO_AUTH, "Bearer not-a-token", "Bearer ", basic("hmq_nokey", "nosecret"), "Basic !!!notbase64",
           "Basic " + "bm9jb2xvbg==", "Digest abc", "token"]
    ops = secured(openapi_doc)
    assert len(ops) == 33
    for method, path, _ in ops:
        for auth in bad:
            response = api.request(method, fill(path), {} if method in ("POST", "PUT") else None, auth=auth)
            response.error(401, "UNAUTHORIZED")
            assert response.headers["www-authenticate"] == 'Bearer realm="hookmq"', (method, path)


def test_unknown_paths_and_methods_are_json_errors(api: Api) -> None:
    api.get("/api/v1/nothing-here").error(404, "NOT_FOUND")
    response = api.request("PATCH", "/api/v1/webhooks")
    response.error(405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]


# ------------------------------------------------------------------------------------------------ default admin


def test_default_admin_must_change_the_password_before_anything_else(
        node: BrokerThread, openapi_doc: dict[str, Any]) -> None:
    api = Api(node.http_port)
    first = login(api)
    assert first["password_change_required"] is True and first["username"] == "admin"
    assert abs(first["expires_at"] - (time.time() + 3600)) < 60
    api.auth = "Bearer " + first["token"]
    other = "Bearer " + login(api)["token"]  # a second session, ended by the change
    for method, path, _ in secured(openapi_doc):
        if (method, path) in DURING_PASSWORD_CHANGE:
            continue
        api.request(method, fill(path), {} if method in ("POST", "PUT") else None).error(
            403, "PASSWORD_CHANGE_REQUIRED")

    errors = api.put("/api/v1/password", {}).error(400, "BAD_REQUEST")["errors"]
    assert errors == ["old_password: required", "new_password: required"]
    for new, problem in (("short", "at least 8"), ("public", "default password")):
        errors = api.put("/api/v1/password", {"old_password": "public", "new_password": new}).error(400)["errors"]
        assert len(errors) == 1 and errors[0].startswith("new_password:") and problem in errors[0]
    errors = api.put("/api/v1/password", {"old_password": "wrong-one", "new_password": NEW_PASSWORD}).error(400)
    assert errors["errors"] == ["old_password: wrong password"]
    api.put("/api/v1/password", {"old_password": "public", "new_password": NEW_PASSWORD, "x": 1}).error(400)

    api.ok("PUT", "/api/v1/password", {"old_password": "public", "new_password": NEW_PASSWORD}, status=204)
    assert api.ok("GET", "/api/v1/stats", model=m.Stats)["connections"] == 0  # the same token now works
    api.get("/api/v1/stats", auth=other).error(401)  # other sessions ended
    api.post("/api/v1/login", {"username": "admin", "password": "public"}, auth=NO_AUTH).error(
        401, "BAD_USERNAME_OR_PWD")
    assert login(api, NEW_PASSWORD)["password_change_required"] is False

    path = node.settings.data_dir / STORE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    assert NEW_PASSWORD not in content and '"public"' not in content and "$argon2id$" in content
    store = AuthStore(node.settings.data_dir)
    store.refresh()
    assert store.verify_admin("admin", NEW_PASSWORD) and not store.admin_password_change_required()


def test_logout_ends_the_token_and_is_allowed_before_the_password_change(node: BrokerThread) -> None:
    api = Api(node.http_port)
    api.auth = "Bearer " + login(api)["token"]
    api.ok("POST", "/api/v1/logout", status=204)
    api.post("/api/v1/logout").error(401)
    api.put("/api/v1/password", {"old_password": "public", "new_password": NEW_PASSWORD}).error(401)


def test_login_errors(node: BrokerThread) -> None:
    api = Api(node.http_port)
    assert api.post("/api/v1/login", {"username": "admin"}).error(400)["errors"] == ["password: required"]
    assert api.post("/api/v1/login", raw=b"{nope").error(400)["message"].startswith("the body is not valid JSON")
    assert api.post("/api/v1/login", [1]).error(400)["errors"] == ["body: must be an object, got an array"]
    api.post("/api/v1/login", {"username": "root", "password": "public"}).error(401, "BAD_USERNAME_OR_PWD")


def test_login_failures_are_rate_limited_per_address(start_broker: Callable[..., BrokerThread]) -> None:
    node = start_broker(api={"login_window": 1.5})
    api = Api(node.http_port)
    for _ in range(5):  # the default: 5 failures ...
        api.post("/api/v1/login", {"username": "admin", "password": "guess"}).error(401)
    limited = api.post("/api/v1/login", {"username": "admin", "password": "public"})  # ... then even the right one
    limited.error(429, "TOO_MANY_REQUESTS")
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    time.sleep(1.6)
    assert login(api)["token"]
    assert load_settings(None, environ={}).api.login_max_failures == 5
    assert load_settings(None, environ={}).api.login_window == 60


def test_tokens_expire(start_broker: Callable[..., BrokerThread]) -> None:
    node = start_broker(api={"token_ttl": 0.5, "admin_password": NEW_PASSWORD})
    api = Api(node.http_port)
    token = login(api, NEW_PASSWORD)
    assert token["password_change_required"] is False
    assert token["expires_at"] - time.time() < 1
    api.auth = "Bearer " + token["token"]
    api.ok("GET", "/api/v1/stats")
    time.sleep(0.6)
    assert "expired" in api.get("/api/v1/stats").error(401, "UNAUTHORIZED")["message"]


def test_admin_password_from_the_settings(start_broker: Callable[..., BrokerThread], tmp_path: Path) -> None:
    data = tmp_path / "unattended"
    node = start_broker(data_dir=data, api={"admin_password": NEW_PASSWORD})
    api = Api(node.http_port)
    api.post("/api/v1/login", {"username": "admin", "password": "public"}).error(401)
    api.auth = "Bearer " + login(api, NEW_PASSWORD)["token"]
    api.ok("GET", "/api/v1/stats")  # no forced change
    message = api.put("/api/v1/password", {"old_password": NEW_PASSWORD, "new_password": "another password"}
                      ).error(409, "CONFLICT")["message"]
    assert "api.admin_password" in message and "HOOKMQ_ADMIN_PASSWORD" in message
    node.stop()
    # a new value in the settings replaces the stored password at the next start
    node = start_broker(data_dir=data, api={"admin_password": "a whole new one"})
    assert login(Api(node.http_port), "a whole new one")["password_change_required"] is False


def test_admin_password_environment_variable() -> None:
    settings = load_settings(None, environ={"HOOKMQ_ADMIN_PASSWORD": NEW_PASSWORD})
    assert settings.api.admin_password is not None
    assert settings.api.admin_password.get_secret_value() == NEW_PASSWORD
    assert NEW_PASSWORD not in repr(settings)
    for weak, problem in (("short", "at least 8"), ("public", "default")):
        with pytest.raises(ConfigError) as err:
            load_settings(None, environ={"HOOKMQ_ADMIN_PASSWORD": weak})
        message = str(err.value)
        assert "HOOKMQ_ADMIN_PASSWORD" in message and "api.admin_password" in message and problem in message
        assert weak == "public" or "'short'" not in message  # the value itself is not printed


async def test_an_unreadable_store_stops_the_start_naming_the_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / STORE_FILE).write_text("{not json")
    with pytest.raises(StartupError, match=STORE_FILE):
        await start_node(make_settings(data))


# ------------------------------------------------------------------------------------------------ API keys


def test_api_keys_over_rest(node: BrokerThread) -> None:
    admin = admin_api(node)
    assert admin.ok("GET", "/api/v1/api-keys") == []
    created = admin.ok("POST", "/api/v1/api-keys", {"name": "prometheus"}, status=201, model=m.ApiKeyCreated)
    assert created["name"] == "prometheus" and created["key"].startswith("hmq_") and len(created["secret"]) >= 40
    listed = admin.ok("GET", "/api/v1/api-keys")
    assert listed == [{k: v for k, v in created.items() if k != "secret"}]
    [m.ApiKeyInfo.model_validate(item) for item in listed]
    assert created["secret"] not in (node.settings.data_dir / STORE_FILE).read_text()

    keyed = Api(node.http_port, basic(created["key"], created["secret"]))
    assert keyed.get("/metrics").status == 200
    assert keyed.get("/metrics").headers["content-type"].startswith("text/plain")
    keyed.get("/metrics", auth=basic(created["key"], created["secret"] + "x")).error(401)
    keyed.get("/metrics", auth=basic(created["id"], created["secret"])).error(401)  # the id is not the key
    assert keyed.post("/api/v1/logout").status == 204  # harmless with a key

    assert admin.ok("POST", "/api/v1/api-keys", status=201)["name"] == ""  # the body is optional
    assert admin.post("/api/v1/api-keys", {"name": 5}).error(400)["errors"] == ["name: Input should be a valid string"]
    admin.post("/api/v1/api-keys", {"nmae": "typo"}).error(400)
    admin.ok("DELETE", f"/api/v1/api-keys/{created['id']}", status=204)
    keyed.get("/metrics").error(401)
    admin.delete(f"/api/v1/api-keys/{created['id']}").error(404, "NOT_FOUND")


def test_api_keys_work_while_the_admin_must_still_change_the_password(node: BrokerThread, api: Api) -> None:
    assert AuthStore(node.settings.data_dir).admin_password_change_required()
    api.ok("GET", "/api/v1/stats", model=m.Stats)


def hookmq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hookmq", *args], capture_output=True, text=True, timeout=30,
                          cwd=ROOT, env={k: v for k, v in os.environ.items() if not k.startswith("HOOKMQ_")})


def test_cli_apikey_offline_is_used_by_the_running_node_at_once(node: BrokerThread) -> None:
    data = str(node.settings.data_dir)
    out = hookmq("apikey", "create", "--data-dir", data, "--name", "cli", "--json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    api = Api(node.http_port, basic(created["key"], created["secret"]))
    assert api.ok("GET", "/api/v1/stats")["node"] == "hookmq@127.0.0.1"

    listed = hookmq("apikey", "list", "--data-dir", data)
    assert listed.returncode == 0 and created["id"] in listed.stdout and "cli" in listed.stdout
    assert created["secret"] not in listed.stdout
    human = hookmq("apikey", "create", "--data-dir", data)
    assert human.returncode == 0 and "shown only now" in human.stdout and "--api-key" in human.stdout

    assert hookmq("apikey", "delete", "--data-dir", data, created["id"]).returncode == 0
    api.get("/api/v1/stats").error(401)
    gone = hookmq("apikey", "delete", "--data-dir", data, created["id"])
    assert gone.returncode == 2 and created["id"] in gone.stderr


def test_cross_site_writes_with_basic_credentials_are_refused(api: Api, node: BrokerThread) -> None:
    path = "/api/v1/webhooks/nope/disable"
    api.post(path, headers={"Origin": "http://evil.example"}).error(403, "CROSS_SITE_REQUEST")
    api.post(path, headers={"Sec-Fetch-Site": "cross-site"}).error(403, "CROSS_SITE_REQUEST")
    api.post(path, headers={"Origin": f"http://127.0.0.1:{node.http_port}"}).error(404)  # same origin
    api.post(path).error(404)  # not a browser
    assert api.get("/api/v1/stats", headers={"Origin": "http://evil.example"}).status == 200  # reads are safe


def test_api_responses_are_not_cached_or_sniffed(api: Api) -> None:
    response = api.get("/api/v1/stats")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
