"""A small blocking HTTP client for the REST API tests (real sockets, ``http.client``)."""

from __future__ import annotations

import base64
import http.client
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

NO_AUTH = ""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def error(self, status: int, code: str | None = None) -> dict[str, Any]:
        """Assert an error answer (status, JSON ``code``/``message``) and return its body."""
        assert self.status == status, (self.status, self.text)
        assert self.headers["content-type"].startswith("application/json")
        data = self.json
        assert set(data) <= {"code", "message", "errors"} and data["message"], data
        if code is not None:
            assert data["code"] == code, data
        return data  # type: ignore[no-any-return]


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@dataclass
class Api:
    """Requests to one node; ``auth`` is the default ``Authorization`` header ("" = none)."""

    port: int
    auth: str = NO_AUTH
    log: list[Response] = field(default_factory=list)  # every response, for the masking checks

    def request(self, method: str, path: str, body: Any = None, *, auth: str | None = None, raw: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = dict(headers or {})
            authorization = self.auth if auth is None else auth
            if authorization:
                sent["Authorization"] = authorization
            data = raw if raw is not None else None if body is None else orjson.dumps(body)
            if data is not None:
                sent.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            response = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()
        self.log.append(response)
        return response

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200,
           model: type[BaseModel] | None = None, **kw: Any) -> Any:
        """Make a request that must answer ``status``; returns the JSON body (checked against ``model``)."""
        response = self.request(method, path, body, **kw)
        assert response.status == status, (method, path, response.status, response.text)
        if status == 204:
            assert response.body == b""
            return None
        data = response.json
        if model is not None:
            model.model_validate(data)
        return data
