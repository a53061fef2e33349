"""EMQX's ``${…}`` template language, for the URL path, header values and body of a webhook request.

EMQX users paste their templates into hookmq, so the rules are EMQX's (spec §3.6; ``emqx_template.erl`` and
``emqx_jsonish.erl``), checked against EMQX's own test suite:

* ``${name}`` is a top-level field; ``${a.b.c}`` walks nested objects. Walking *into a string* decodes it as
  JSON once (``${payload.msg}`` when ``payload`` is ``'{"msg": "hi"}'``); strings inside the decoded value are
  not decoded again (EMQX: "nested JSON is NOT parsed recursively"). Lists are not indexed.
* ``${.}`` (or ``${}``) is the whole event as JSON. Variable names use ``[A-Za-z0-9._]`` only, as in EMQX.
* A missing variable renders as the text ``undefined``; it is never an error at render time.
* Value to text: strings as-is, integers in decimal, floats with at most 10 decimals in compact form
  (``1.0``, ``0.3333333333``), booleans ``true``/``false``, objects and lists as compact JSON. ``None`` met in
  the event is Erlang's ``undefined`` and renders ``undefined``; a JSON ``null`` inside a decoded string is
  EMQX's atom ``null`` and renders ``null``.

Where hookmq is stricter or differs (deliberately):

* ``$${`` gives a literal ``${`` (spec §3.6, EMQX's docstring). EMQX 5.8's code renders ``$${b}`` as ``$`` and
  the value of b (its ``t_render_tmpl_deep``); its real escape ``${$}`` (a literal ``$``) works here too.
* An unterminated ``${`` or a ``${…}`` holding characters outside ``[A-Za-z0-9._]`` is a `TemplateError` with
  its position. EMQX leaves such text as it is, which hides typos until a receiver complains.
* Lists always render as JSON. EMQX writes a list of printable code points, and ``[]``, as text (Erlang
  strings are lists), so ``[104, 105]`` in a payload would be ``hi`` there.

Templates are compiled once into a tuple of literal strings and key paths, so rendering is a loop with no
parsing; identical texts share one compiled `Template`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

__all__ = [
    "UNDEFINED", "RequestTemplate", "Template", "TemplateError", "check_header", "escape", "lookup", "render_json_body",
    "split_url", "to_text", "variables",
]

UNDEFINED: Final = "undefined"
WHOLE_EVENT: Final = "."  # how `variables` names ``${.}``

_NAME = re.compile(r"\.?[A-Za-z0-9._]*")  # the inside of a placeholder, as EMQX's RE_PLACEHOLDER
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name, RFC 9110 §5.6.2
_UNSAFE = re.compile(r"[\r\n\0]")  # would split or end a header line
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")  # would split the request line: percent-encoded
_MISSING: Final[Any] = object()

Path = tuple[str, ...]
Part = str | Path  # a literal, or the key path of a variable (() = the whole event)


class TemplateError(ValueError):
    """A template that cannot be compiled; ``position`` is the 0-based index of the offending ``${``."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


class Template:
    """A compiled template. Build it with `Template.compile`; `render` an event to text."""

    __slots__ = ("_const", "_parts", "text", "variables")

    def __init__(self, text: str, parts: tuple[Part, ...], names: tuple[str, ...]) -> None:
        self.text = text
        self._parts = parts
        self.variables = names  # distinct variable names, in order of first use
        self._const: str | None = None
        if not names:
            self._const = "".join(p for p in parts if isinstance(p, str))

    @staticmethod
    def compile(text: str) -> Template:
        """Parse ``text`` once; the result is shared and immutable.

        Raises:
            TemplateError: an unterminated ``${`` or an invalid variable name (the message has the position).
        """
        return _compile(text)

    @property
    def is_constant(self) -> bool:
        """True when the template references no variable (rendering returns the same text every time)."""
        return self._const is not None

    def render(self, event: Mapping[str, Any]) -> str:
        """The text for ``event``; missing variables become ``undefined``."""
        if self._const is not None:
            return self._const
        out: list[str] = []
        decoded: dict[int, tuple[Any, Any]] = {}  # id(JSON string) -> (it, decoded): decode each once per render
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(_render_path(part, event, decoded))
        return "".join(out)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


@lru_cache(maxsize=4096)
def _compile(text: str) -> Template:
    parts: list[Part] = []
    names: dict[str, None] = {}
    literal: list[str] = []
    start = 0
    while True:
        at = text.find("${", start)
        if at < 0:
            literal.append(text[start:])
            break
        if at > start and text[at - 1] == "$":  # `$${` -> a literal `${`
            literal.append(text[start:at - 1] + "${")
            start = at + 2
            continue
        literal.append(text[start:at])
        end = text.find("}", at + 2)
        if end < 0:
            raise TemplateError("unterminated '${' (close it with '}', or write '$${' for a literal '${')", at)
        inside = text[at + 2:end]
        start = end + 1
        if inside == "$":  # EMQX's escape: `${$}` -> a literal `$`
            literal.append("$")
            continue
        if _NAME.fullmatch(inside) is None:
            shown = inside if len(inside) <= 40 else inside[:37] + "..."
            raise TemplateError(f"invalid variable {'${' + shown + '}'!r}: a name may hold only letters, digits, "
                                f"'_' and '.' (write '$${{' for a literal '${{')", at)
        if any(literal):
            parts.append("".join(literal))
        literal = []
        name = inside.removeprefix(".")
        parts.append(tuple(name.split(".")) if name else ())
        names[name or WHOLE_EVENT] = None
    if any(literal):
        parts.append("".join(literal))
    return Template(text, tuple(parts), tuple(names))


def variables(text: str) -> list[str]:
    """The distinct variables ``text`` references, in order (``"."`` for the whole event), for the dashboard.

    Raises:
        TemplateError: as `Template.compile`.
    """
    return list(Template.compile(text).variables)


def escape(text: str) -> str:
    """A template that renders ``text`` literally (every ``${`` written as ``$${``)."""
    return text.replace("${", "$${")


def lookup(event: Mapping[str, Any], name: str) -> Any:
    """The value of variable ``name`` (``"a.b"``, ``"."`` for the whole event) in ``event``, or None if missing.

    JSON strings on the way are decoded as in rendering; a JSON ``null`` found there is also None.
    """
    stripped = name.removeprefix(".")
    value, _ = _resolve(tuple(stripped.split(".")) if stripped else (), event, {})
    return None if value is _MISSING else value


def to_text(value: Any) -> str:
    """EMQX's value-to-text rule (``emqx_template:to_string``); None is ``undefined``."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is float:
        return _float_text(value)
    if value is None:
        return UNDEFINED
    if isinstance(value, dict | list | tuple):
        return _json(value).decode()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):  # an IntEnum
        return str(int(value))
    return str(value)  # a StrEnum gives its value


def render_json_body(template: Template | str | None, event: Mapping[str, Any]) -> bytes:
    """The request body: the whole event as JSON when no body template is set (EMQX's default), else the
    rendered template as UTF-8 text (``""`` = an empty body). Values are not JSON-escaped, as in EMQX.
    """
    if template is None:
        return _json(event)
    if isinstance(template, str):
        template = Template.compile(template)
    return template.render(event).encode()


# ------------------------------------------------------------------------------------------- the request

def split_url(url: str) -> tuple[str, Template]:
    """Check a webhook URL and split it into ``scheme://host[:port]`` and the compiled path-and-query template.

    EMQX allows ``${var}`` only after the host (spec §3.2) and rejects user-info and fragments.

    Raises:
        ValueError: the message says what is allowed (a `TemplateError` for a bad template).
    """
    if any(c.isspace() for c in url):
        raise ValueError(f"must not contain spaces (percent-encode them as %20), got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "://" not in url:
        raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
    if "@" in parts.netloc:
        raise ValueError("must not contain user:password@ (send credentials in an Authorization header)")
    if "${" in parts.netloc:
        raise ValueError(f"${{var}} is allowed only in the path and query, not in the host or port, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"port must be a number from 1 to 65535, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"must name a host, got {url!r}")
    if "#" in url:
        raise ValueError(f"must not contain a #fragment (it is never sent), got {url!r}")
    base_len = url.index("://") + 3 + len(parts.netloc)
    return url[:base_len], Template.compile(url[base_len:])


def check_header(name: str, value: str) -> Template:
    """Check one header (the name an HTTP token, the value a template with no line break) and compile it.

    Raises:
        ValueError: the message names the header.
    """
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"header name {name!r} is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)")
    if _UNSAFE.search(value):
        raise ValueError(f"the value of {name!r} must not contain line breaks or NUL")
    try:
        return Template.compile(value)
    except TemplateError as exc:
        raise ValueError(f"the value of {name!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class RequestTemplate:
    """A webhook's URL, headers and body compiled once; each ``render_*`` is a loop over literal parts."""

    base: str  # scheme://host[:port], never templated
    path: Template  # path and query
    headers: tuple[tuple[str, Template], ...]
    body: Template | None  # None: the whole event as JSON
    headers_vary: bool  # some header value uses a variable
    constant_headers: dict[str, str]  # the headers when none varies (shared: do not mutate)

    @classmethod
    def compile(cls, url: str, headers: Mapping[str, str], body: str | None) -> RequestTemplate:
        """Raises ValueError as `split_url` and `check_header`, or `TemplateError` for the body."""
        base, path = split_url(url)
        compiled = tuple((name, check_header(name, value)) for name, value in headers.items())
        vary = any(template.variables for _, template in compiled)
        constant = {} if vary else {name: template.render({}) for name, template in compiled}
        return cls(base, path, compiled, None if body is None else Template.compile(body), vary, constant)

    def render_target(self, event: Mapping[str, Any]) -> str:
        """The path and query. Variables are inserted as they are (as EMQX), except that control characters
        and spaces, which would break the request line, are percent-encoded."""
        return _UNSAFE_TARGET.sub(_percent, self.path.render(event))

    def render_url(self, event: Mapping[str, Any]) -> str:
        return self.base + self.render_target(event)

    def render_headers(self, event: Mapping[str, Any]) -> dict[str, str]:
        """The headers; CR, LF and NUL from event data become spaces, so a value cannot inject a header."""
        return {name: _UNSAFE.sub(" ", value.render(event)) for name, value in self.headers}

    def render_body(self, event: Mapping[str, Any]) -> bytes:
        return render_json_body(self.body, event)


# ------------------------------------------------------------------------------------------------- internals

def _percent(match: re.Match[str]) -> str:
    return f"%{ord(match[0]):02X}"


def _float_text(value: float) -> str:
    """Erlang's ``float_to_binary(F, [{decimals, 10}, compact])``: fixed notation, trailing zeros cut, one kept."""
    text = f"{value:.10f}"
    if "." not in text:  # inf, nan
        return text
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


def _json(value: Any) -> bytes:
    if not isinstance(value, dict | list | tuple):
        value = dict(value)  # another Mapping
    try:
        return orjson.dumps(value, default=str)
    except TypeError:  # non-str keys or integers beyond 64 bits (not from the builders): the slow way
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False).encode()


def _resolve(path: Path, value: Any, decoded: dict[int, tuple[Any, Any]]) -> tuple[Any, bool]:
    """Walk ``path`` from ``value``; returns (value or _MISSING, whether a JSON string was decoded on the way)."""
    was_decoded = False
    for key in path:
        if isinstance(value, str | bytes) and not was_decoded:
            source, cached = decoded.get(id(value), (None, _MISSING))
            if source is not value:  # holding the string keeps its id from being reused
                try:
                    cached = orjson.loads(value)
                except orjson.JSONDecodeError:
                    cached = None
                decoded[id(value)] = (value, cached)
            value = cached
            was_decoded = True
        if not isinstance(value, Mapping):
            return _MISSING, was_decoded
        value = value.get(key, _MISSING)
        if value is _MISSING or (value is None and not was_decoded):
            return _MISSING, was_decoded
    return value, was_decoded


def _render_path(path: Path, event: Mapping[str, Any], decoded: dict[int, tuple[Any, Any]]) -> str:
    if not path:
        return _json(event).decode()
    value, was_decoded = _resolve(path, event, decoded)
    if value is _MISSING:
        return UNDEFINED
    if value is None:
        return "null" if was_decoded else UNDEFINED
    return to_text(value)
