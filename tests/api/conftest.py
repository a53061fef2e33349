from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.client import Api
from tests.helpers import BrokerThread, api_authorization


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path template, operation) of every operation of an OpenAPI document."""
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield method.upper(), path, op


def fill(path: str, value: str = "x") -> str:
    """A path template with every ``{param}`` replaced."""
    import re

    return re.sub(r"\{[^}]+\}", value, path)


def api_of(node: BrokerThread) -> Api:
    """A client of ``node`` authenticated with a fresh API key."""
    return Api(node.http_port, api_authorization(node.settings.data_dir))


@pytest.fixture
def node(start_broker: Callable[..., BrokerThread]) -> BrokerThread:
    return start_broker()


@pytest.fixture
def api(node: BrokerThread) -> Api:
    return api_of(node)


@pytest.fixture(scope="module")
def openapi_doc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.helpers import make_settings

    node = BrokerThread(make_settings(tmp_path_factory.mktemp("openapi"))).start()
    try:
        yield Api(node.http_port).ok("GET", "/api/v1/openapi.json")
    finally:
        node.stop()
