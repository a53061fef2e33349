"""``/api/v1/openapi.json`` describes every endpoint (auth, bodies, responses) and ``/api/docs`` renders it
without anything from the network."""

from __future__ import annotations

import re
from typing import Any

from hookmq.webhooks.model import WebhookConfig
from tests.api.client import Api
from tests.api.conftest import operations
from tests.helpers import BrokerThread

REQUIRED = {
    "POST /api/v1/login", "POST /api/v1/logout", "PUT /api/v1/password", "GET /api/v1/api-keys",
    "POST /api/v1/api-keys", "DELETE /api/v1/api-keys/{id}", "GET /api/v1/webhooks", "POST /api/v1/webhooks",
    "GET /api/v1/webhooks/{name}", "PUT /api/v1/webhooks/{name}", "DELETE /api/v1/webhooks/{name}",
    "POST /api/v1/webhooks/{name}/enable", "POST /api/v1/webhooks/{name}/disable", "POST /api/v1/webhooks/test",
    "POST /api/v1/webhooks/{name}/test", "GET /api/v1/webhooks/{name}/metrics",
    "POST /api/v1/webhooks/{name}/metrics/reset", "GET /api/v1/webhooks/{name}/deliveries",
    "GET /api/v1/webhooks/{name}/dead-letters", "POST /api/v1/webhooks/{name}/dead-letters/replay",
    "GET /api/v1/events", "GET /api/v1/events/stream", "GET /api/v1/stats", "GET /api/v1/clients",
    "DELETE /api/v1/clients/{clientid}", "GET /api/v1/subscriptions", "GET /api/v1/retained",
    "DELETE /api/v1/retained/{topic}", "POST /api/v1/publish", "GET /api/v1/users", "POST /api/v1/users",
    "DELETE /api/v1/users/{username}", "GET /api/v1/openapi.json", "GET /api/docs", "GET /metrics",
    "GET /api/v1/health", "GET /health",
}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_endpoint_is_described(openapi_doc: dict[str, Any]) -> None:
    doc = openapi_doc
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    described = {f"{method} {path}" for method, path, _ in operations(doc)}
    assert described >= REQUIRED, REQUIRED - described
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "basicAuth"}
    assert doc["security"] == [{"bearerAuth": []}, {"basicAuth": []}]
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    for method, path, op in operations(doc):
        assert op["summary"] and op["tags"], (method, path)
        assert any(code.startswith(("2", "3")) for code in op["responses"]), (method, path)
        for name in re.findall(r"\{(\w+)\}", path):
            assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"]), (method, path, name)
        if op.get("security") != []:
            assert "401" in op["responses"], (method, path)
        if "requestBody" in op:
            assert "400" in op["responses"], (method, path)
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    for ref in refs(doc):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict)


def test_webhook_bodies_are_the_webhook_model(openapi_doc: dict[str, Any]) -> None:
    schemas = openapi_doc["components"]["schemas"]
    create = openapi_doc["paths"]["/api/v1/webhooks"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/WebhookConfig"}
    assert set(schemas["WebhookConfig"]["properties"]) == set(WebhookConfig.model_fields)
    assert "name" in schemas["WebhookConfig"]["required"] and "name" not in schemas["WebhookUpdate"]["required"]
    assert {"source", "status", "metrics"} <= set(schemas["Webhook"]["properties"])
    timeout = schemas["WebhookConfig"]["properties"]["request_timeout"]
    assert {"type": "string", "examples": ["15s", "500ms", "5m"]} in timeout["anyOf"]
    query = {p["name"] for p in openapi_doc["paths"]["/api/v1/webhooks/{name}/deliveries"]["get"]["parameters"]}
    assert query == {"name", "limit", "outcome"}


def test_docs_page_is_self_contained(node: BrokerThread) -> None:
    response = Api(node.http_port).get("/api/docs")
    assert response.status == 200
    page = response.text
    assert "/api/v1/openapi.json" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "nothing may come from elsewhere"
    assert "http://" not in page and "https://" not in page
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp
