"""ACL-file authorization, modelled on EMQX's "file" authorizer.

Why: most deployments need only a short, ordered list of allow/deny rules ("devices may
publish only under `devices/<their clientid>/#`, nobody subscribes to `$SYS/#`") and a
TOML file is easy to review and version. Rules are compiled once at load time (filters
split into level tuples, placeholders detected up front) and answers are cached per
client, because `authorize` runs on every PUBLISH and SUBSCRIBE.

    [[rules]]
    permission = "deny"            # allow | deny
    action = "subscribe"           # publish | subscribe | all
    topics = ["test/nosubscribe"]  # filters; "%u"/"%c" = username/clientid; "eq t/#" = literal
    # optional, all given must match: username = "..." | [...], clientid = ..., ipaddr = "10.0.0.0/8"

Rules are evaluated top-down and the first rule that matches decides. The module is pure
(no I/O except `Acl.load`) and not thread-safe: the broker calls it from its event loop.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

__all__ = ["Acl", "Authorizer", "AuthzConfigError", "AuthzResult", "ClientIdentity"]

Action = Literal["publish", "subscribe"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_RULE_ACTIONS: Final = {
    "publish": frozenset({"publish"}),
    "subscribe": frozenset({"subscribe"}),
    "all": frozenset({"publish", "subscribe"}),
}
_RULE_KEYS: Final = ("action", "clientid", "ipaddr", "permission", "topics", "username")
_WILDCARDS: Final = frozenset({"+", "#"})
_PLACEHOLDER: Final = re.compile("%[uc]")
# A substituted username/clientid must stay inside one level and must not act as a wildcard,
# otherwise user "+" would match a "users/%u/#" rule for every user.
_UNSAFE_VALUE: Final = re.compile("[/+#]")
_MISSING: Final = object()


class AuthzConfigError(Exception):
    """The ACL file cannot be read or a rule in it is invalid."""


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    clientid: str
    username: str | None
    peerhost: str | None


@dataclass(frozen=True, slots=True)
class AuthzResult:
    allowed: bool
    source: Literal["file", "default", "cache"]


# --- MQTT topic semantics ---------------------------------------------------------------------


def _matches(filter_levels: Sequence[str], topic_levels: Sequence[str]) -> bool:
    """Does the filter match the topic name? A leading wildcard never matches a `$` topic."""
    if filter_levels[0] in _WILDCARDS and topic_levels[0].startswith("$"):
        return False
    for i, level in enumerate(filter_levels):
        if level == "#":
            return True
        if i >= len(topic_levels) or (level != "+" and level != topic_levels[i]):
            return False
    return len(filter_levels) == len(topic_levels)


def _covers(rule_levels: Sequence[str], sub_levels: Sequence[str]) -> bool:
    """Is every topic the subscription filter can match also matched by the rule filter?"""
    if rule_levels[0] in _WILDCARDS and sub_levels[0].startswith("$"):
        return False
    for i, level in enumerate(rule_levels):
        if level == "#":
            return True
        if i >= len(sub_levels):
            return False
        sub_level = sub_levels[i]
        if sub_level == "#" or (level != "+" and level != sub_level):
            return False
    return len(rule_levels) == len(sub_levels)


def _real_filter(topic_filter: str) -> str:
    """`$share/group/a/b` -> `a/b`; other filters unchanged."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) == 3:
            return parts[2]
    return topic_filter


@lru_cache(maxsize=4096)
def _peer_address(peerhost: str | None) -> IPAddress | None:
    if peerhost is None:
        return None
    try:
        address = ipaddress.ip_address(peerhost)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# --- compiled rules ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    """A topic filter containing %u and/or %c, expanded for each check."""

    levels: tuple[str, ...]
    uses_username: bool
    uses_clientid: bool

    def expand(self, client: ClientIdentity) -> tuple[str, ...] | None:
        """The filter for this client, or None if the client's values cannot be substituted."""
        if self.uses_username and not _is_safe_value(client.username):
            return None
        if self.uses_clientid and not _is_safe_value(client.clientid):
            return None
        values = {"%u": client.username or "", "%c": client.clientid}
        expanded = tuple(
            _PLACEHOLDER.sub(lambda m: values[m.group()], level) if "%" in level else level for level in self.levels
        )
        # A value must not turn a normal filter into a `$` one (user "$SYS" and rule "%u/#").
        if expanded[0].startswith("$") and not self.levels[0].startswith("$"):
            return None
        return expanded


def _is_safe_value(value: str | None) -> bool:
    return value is not None and value != "" and _UNSAFE_VALUE.search(value) is None


@dataclass(frozen=True, slots=True)
class _Rule:
    allow: bool
    actions: frozenset[str]
    literals: frozenset[str]
    filters: tuple[tuple[str, ...], ...]
    templates: tuple[_Template, ...]
    usernames: frozenset[str] | None
    clientids: frozenset[str] | None
    network: IPNetwork | None

    def applies_to(self, client: ClientIdentity) -> bool:
        if self.usernames is not None and client.username not in self.usernames:
            return False
        if self.clientids is not None and client.clientid not in self.clientids:
            return False
        if self.network is not None:
            address = _peer_address(client.peerhost)
            return address is not None and address in self.network
        return True

    def matches_topic(self, client: ClientIdentity, topic: str, levels: Sequence[str], subscribe: bool) -> bool:
        if topic in self.literals:
            return True
        match = _covers if subscribe else _matches
        if any(match(rule_levels, levels) for rule_levels in self.filters):
            return True
        for template in self.templates:
            expanded = template.expand(client)
            if expanded is not None and match(expanded, levels):
                return True
        return False


# --- config parsing ---------------------------------------------------------------------------


def _show(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _invalid(where: str, key: str, expected: str, value: object) -> AuthzConfigError:
    if value is _MISSING:
        return AuthzConfigError(f"{where}.{key}: required, must be {expected}")
    return AuthzConfigError(f"{where}.{key}: must be {expected}, got {_show(value)}")


def _parse_choice(raw: dict[str, Any], key: str, choices: Sequence[str], where: str) -> str:
    value = raw.get(key, _MISSING)
    if isinstance(value, str) and value in choices:
        return value
    quoted = [_show(choice) for choice in choices]
    expected = ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
    raise _invalid(where, key, expected, value)


def _parse_names(raw: dict[str, Any], key: str, where: str) -> frozenset[str] | None:
    value = raw.get(key, _MISSING)
    if value is _MISSING:
        return None
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise _invalid(where, key, "a string or a non-empty array of strings", value)


def _parse_network(raw: dict[str, Any], where: str) -> IPNetwork | None:
    value = raw.get("ipaddr", _MISSING)
    if value is _MISSING:
        return None
    expected = 'an IP address or CIDR network such as "10.0.0.0/8"'
    if not isinstance(value, str):
        raise _invalid(where, "ipaddr", expected, value)
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _invalid(where, "ipaddr", expected, value) from None
    mapped = network.network_address.ipv4_mapped if isinstance(network, ipaddress.IPv6Network) else None
    if mapped is not None and network.prefixlen >= 96:
        return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}", strict=False)
    return network


def _filter_problem(topic_filter: str) -> str | None:
    if not topic_filter:
        return "must not be empty"
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if level == "#" and i != len(levels) - 1:
            return '"#" is only allowed as the last level'
        if level not in _WILDCARDS and ("+" in level or "#" in level):
            return '"+" and "#" must occupy a whole level'
    return None


_Topics = tuple[frozenset[str], tuple[tuple[str, ...], ...], tuple[_Template, ...]]


def _parse_topics(raw: dict[str, Any], where: str) -> _Topics:
    """The rule's topics split into ("eq") literals, plain filters and %u/%c templates."""
    value = raw.get("topics", _MISSING)
    if not isinstance(value, list) or not value:
        raise _invalid(where, "topics", "a non-empty array of topic filters", value)
    literals: set[str] = set()
    filters: list[tuple[str, ...]] = []
    templates: list[_Template] = []
    for j, topic in enumerate(value, start=1):
        if not isinstance(topic, str):
            raise _invalid(where, f"topics[{j}]", "a string", topic)
        if topic.startswith("eq "):
            if not topic[3:]:
                raise AuthzConfigError(f'{where}.topics[{j}]: "eq" needs a topic after it')
            literals.add(topic[3:])
            continue
        problem = _filter_problem(topic)
        if problem:
            raise AuthzConfigError(f"{where}.topics[{j}]: {_show(topic)}: {problem}")
        # "+/#" matches exactly what "#" does (every topic has a first level); normalising lets
        # the structural coverage check see that a "+/#" rule covers a "#" subscription.
        levels = ("#",) if topic == "+/#" else tuple(topic.split("/"))
        if _PLACEHOLDER.search(topic):
            templates.append(_Template(levels, "%u" in topic, "%c" in topic))
        else:
            filters.append(levels)
    return frozenset(literals), tuple(filters), tuple(templates)


def _compile_rule(raw: Any, where: str) -> _Rule:
    if not isinstance(raw, dict):
        raise AuthzConfigError(f"{where}: must be a table, got {_show(raw)}")
    unknown = sorted(set(raw) - set(_RULE_KEYS))
    if unknown:
        raise AuthzConfigError(f"{where}: unknown key {_show(unknown[0])} (allowed: {', '.join(_RULE_KEYS)})")
    permission = _parse_choice(raw, "permission", ("allow", "deny"), where)
    action = _parse_choice(raw, "action", tuple(_RULE_ACTIONS), where)
    literals, filters, templates = _parse_topics(raw, where)
    return _Rule(
        allow=permission == "allow",
        actions=_RULE_ACTIONS[action],
        literals=literals,
        filters=filters,
        templates=templates,
        usernames=_parse_names(raw, "username", where),
        clientids=_parse_names(raw, "clientid", where),
        network=_parse_network(raw, where),
    )


def _compile_rules(rules: Any, source: str) -> tuple[_Rule, ...]:
    if not isinstance(rules, list):
        raise AuthzConfigError(f"{source}: rules: must be an array of tables ([[rules]]), got {_show(rules)}")
    return tuple(_compile_rule(raw, f"{source}: rules[{i}]") for i, raw in enumerate(rules, start=1))


def _compile_document(document: dict[str, Any], source: str) -> tuple[_Rule, ...]:
    unknown = sorted(set(document) - {"rules"})
    if unknown:
        raise AuthzConfigError(f"{source}: unknown top-level key {_show(unknown[0])} (allowed: rules)")
    return _compile_rules(document.get("rules", []), source)


# --- public API -------------------------------------------------------------------------------


class Acl:
    """An ordered, compiled list of ACL rules."""

    def __init__(self, rules: tuple[_Rule, ...], path: Path | None = None) -> None:
        self._rules = rules
        self.path = path

    @classmethod
    def load(cls, path: str | Path) -> Acl:
        path = Path(path)
        try:
            with path.open("rb") as f:
                document = tomllib.load(f)
        except OSError as exc:
            raise AuthzConfigError(f"{path}: cannot read ACL file: {exc.strerror or exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise AuthzConfigError(f"{path}: invalid TOML: {exc}") from exc
        return cls(_compile_document(document, str(path)), path)

    @classmethod
    def from_rules(cls, rules: list[dict[str, Any]]) -> Acl:
        """Build an ACL from rule tables as they would appear in the file (for tests and embedding)."""
        return cls(_compile_rules(rules, "<rules>"))

    def check(self, client: ClientIdentity, action: Action, topic: str) -> bool | None:
        """The permission of the first matching rule, or None if no rule matches."""
        subscribe = action == "subscribe"
        if subscribe:
            topic = _real_filter(topic)
        levels = topic.split("/")
        for rule in self._rules:
            if action not in rule.actions or not rule.applies_to(client):
                continue
            if rule.matches_topic(client, topic, levels, subscribe):
                return rule.allow
        return None


@dataclass(slots=True)
class _ClientCache:
    identity: ClientIdentity
    generation: int
    entries: OrderedDict[tuple[str, str], bool] = field(default_factory=OrderedDict)


class Authorizer:
    """Answers "may this client publish/subscribe to this topic?" from an ACL plus a default.

    `deny_action` is not acted on here; it tells the broker whether a denied PUBLISH or
    SUBSCRIBE is only refused ("ignore") or also ends the connection ("disconnect").
    The per-client cache is keyed on the full `ClientIdentity`, so a reconnect with the same
    clientid but another username or address never sees the previous connection's answers;
    the broker should still call `forget` on disconnect to free the memory.
    """

    def __init__(
        self,
        acl: Acl | None,
        no_match: Literal["allow", "deny"] = "allow",
        deny_action: Literal["ignore", "disconnect"] = "ignore",
        cache_max_size: int = 32,
    ) -> None:
        if no_match not in ("allow", "deny"):
            raise ValueError(f'no_match must be "allow" or "deny", got {no_match!r}')
        if deny_action not in ("ignore", "disconnect"):
            raise ValueError(f'deny_action must be "ignore" or "disconnect", got {deny_action!r}')
        if cache_max_size < 0:
            raise ValueError(f"cache_max_size must be >= 0, got {cache_max_size}")
        self._acl = acl
        self.no_match = no_match
        self.deny_action = deny_action
        self.cache_max_size = cache_max_size
        self._generation = 0
        self._caches: dict[str, _ClientCache] = {}

    def authorize(self, client: ClientIdentity, action: Action, topic: str) -> AuthzResult:
        if self._acl is None:
            return AuthzResult(self.no_match == "allow", "default")
        if self.cache_max_size == 0:
            return self._evaluate(self._acl, client, action, topic)
        cache = self._cache_for(client)
        key = (action, topic)
        cached = cache.entries.get(key)
        if cached is not None:
            cache.entries.move_to_end(key)
            return AuthzResult(cached, "cache")
        result = self._evaluate(self._acl, client, action, topic)
        cache.entries[key] = result.allowed
        if len(cache.entries) > self.cache_max_size:
            cache.entries.popitem(last=False)
        return result

    def forget(self, clientid: str) -> None:
        """Drop a client's cached answers (call on disconnect)."""
        self._caches.pop(clientid, None)

    def reload(self) -> None:
        """Re-read the ACL file, if the ACL came from one, and invalidate every cache.

        On error the previous ACL stays in force and AuthzConfigError propagates.
        """
        if self._acl is None or self._acl.path is None:
            return
        self._acl = Acl.load(self._acl.path)
        self._generation += 1

    def _evaluate(self, acl: Acl, client: ClientIdentity, action: Action, topic: str) -> AuthzResult:
        allowed = acl.check(client, action, topic)
        if allowed is None:
            return AuthzResult(self.no_match == "allow", "default")
        return AuthzResult(allowed, "file")

    def _cache_for(self, client: ClientIdentity) -> _ClientCache:
        cache = self._caches.get(client.clientid)
        if cache is None or cache.generation != self._generation or cache.identity != client:
            cache = self._caches[client.clientid] = _ClientCache(client, self._generation)
        return cache
