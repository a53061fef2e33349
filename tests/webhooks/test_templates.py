"""EMQX's ``${…}`` templates (spec §3.6): the cases of EMQX's own emqx_template_SUITE, plus hookmq's stricter
parsing, JSON-string walking, value-to-text rules and the compiled request."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookmq.events.catalogue import CATALOGUE, get
from hookmq.webhooks.model import rule_id
from hookmq.webhooks.templates import (
    UNDEFINED,
    RequestTemplate,
    Template,
    TemplateError,
    check_header,
    escape,
    lookup,
    render_json_body,
    split_url,
    to_text,
    variables,
)


def render(text: str, event: dict[str, Any]) -> str:
    return Template.compile(text).render(event)


def publish_event() -> dict[str, Any]:
    """A real message.publish body as a webhook sends it: the builder's payload plus metadata."""
    return {**get("message.publish").example, "metadata": {"rule_id": rule_id("demo")}}


# ------------------------------------------------------------------------------ EMQX's own test cases

def test_emqx_t_render() -> None:
    event = {"a": "1", "b": 1, "c": 1.0, "d": {"d1": "hi"}, "l": [0, 1, 1000], "u": "utf-8 is ǝɹǝɥ"}
    text = "a:${a},b:${b},c:${c},d:${d},d1:${d.d1},l:${l},u:${u}"
    assert render(text, event) == 'a:1,b:1,c:1.0,d:{"d1":"hi"},d1:hi,l:[0,1,1000],u:utf-8 is ǝɹǝɥ'


def test_emqx_t_render_this_whole_event() -> None:
    event = {"a": "a", "b": [1, 2, 3]}
    out = render("this:${} / also:${.}", event)
    first, second = out.removeprefix("this:").split(" / also:")
    assert orjson.loads(first) == orjson.loads(second) == event


def test_emqx_t_render_missing_bindings() -> None:
    event = {"no": {}, "c": {"c1": 42}}
    text = "a:${a},b:${b},c:${c.c1.c2},d:${d.d1},e:${no.such_atom_i_swear}"
    assert render(text, event) == "a:undefined,b:undefined,c:undefined,d:undefined,e:undefined"


def test_emqx_t_parse_escaped_dollar() -> None:
    # EMQX 5.8's own escape: ${$} is a literal "$".
    event = {"a": "1", "b": 1, "c": "VAR"}
    assert render("a:${a},b:${$}{b},c:${$}{${c}},lit:${$}{$}", event) == "a:1,b:${b},c:${VAR},lit:${$}"


def test_emqx_t_render_partial_placeholders_are_text() -> None:
    event = {"a": "1"}
    assert render("a:$a,b:b},c:{c},d:$ {d}", event) == "a:$a,b:b},c:{c},d:$ {d}"


# -------------------------------------------------------------------------------------------- escaping

@pytest.mark.parametrize(("text", "expected"), [
    ("$${clientid}", "${clientid}"),
    ("x$${a}y${a}", "x${a}y1"),
    ("$$${a}", "$${a}"),  # the `$` before `$${` stays
    ("$${", "${"),  # an escaped `${` needs no closing brace
    ("$$", "$$"),
    ("price: ${$}${a}", "price: $1"),
])
def test_double_dollar_is_a_literal_placeholder(text: str, expected: str) -> None:
    assert render(text, {"a": 1, "clientid": "c1"}) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="${}.ab_ \n", max_size=40))
def test_escape_round_trips_any_text(text: str) -> None:
    template = Template.compile(escape(text))
    assert template.is_constant
    assert template.render({"a": "X"}) == text


# ------------------------------------------------------------------------------------- compile errors

@pytest.mark.parametrize(("text", "position", "words"), [
    ("${clientid", 0, "unterminated"),
    ("/hook/${topic", 6, "unterminated"),
    ('{"a": "${a}", "b": "${b', 20, "unterminated"),
    ("x ${client id} y", 2, "invalid variable '${client id}'"),
    ("${pub_props.User-Property}", 0, "invalid variable"),
    ('{"a": "${payload", "b": {}}', 7, "invalid variable"),
])
def test_bad_placeholders_fail_with_their_position(text: str, position: int, words: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(words)) as err:
        Template.compile(text)
    assert err.value.position == position
    assert f"at position {position}" in str(err.value)
    assert "$${" in str(err.value)  # tells how to write a literal


def test_compile_is_shared_and_constant_templates_are_detected() -> None:
    assert Template.compile("/hook/${clientid}") is Template.compile("/hook/${clientid}")
    assert Template.compile("/hook/${clientid}") == Template.compile("/hook/${clientid}")
    assert Template.compile("/static").is_constant
    assert Template.compile("$${x}").is_constant
    assert not Template.compile("${.}").is_constant


def test_variables_lists_each_name_once_in_order() -> None:
    text = '{"t":"${topic}","m":"${payload.msg}","all":${.},"again":"${topic}","lit":"$${clientid}","x":"${.qos}"}'
    assert variables(text) == ["topic", "payload.msg", ".", "qos"]
    assert variables("no variables") == []
    with pytest.raises(TemplateError):
        variables("${oops")


# ----------------------------------------------------------------------------------- JSON-string walking

def test_payload_fields_of_a_real_publish_event() -> None:
    event = publish_event()
    assert render("${payload.msg} from ${clientid} on ${topic}", event) == "hello from c_emqx_1 on t/a"
    assert render("${payload}", event) == '{"msg": "hello"}'  # the string itself, untouched
    assert render("${flags.retain}/${qos}/${metadata.rule_id}", event) == "false/1/demo_WH_D"


def test_json_strings_are_decoded_once_not_recursively() -> None:
    event = {"payload": orjson.dumps({"inner": orjson.dumps({"x": 1}).decode(), "n": None, "l": []}).decode()}
    assert render("${payload.inner}", event) == '{"x":1}'
    assert render("${payload.inner.x}", event) == UNDEFINED  # EMQX: nested JSON is NOT parsed recursively
    assert render("${payload.n}", event) == "null"  # a JSON null is EMQX's atom null
    assert render("${payload.l}", event) == "[]"


@pytest.mark.parametrize("payload", ["not json", "", "[1, 2]", "42", '"str"', "{bad json}"])
def test_walking_into_a_non_object_is_undefined(payload: str) -> None:
    assert render("${payload.msg}", {"payload": payload}) == UNDEFINED


def test_bytes_payload_is_walked_too() -> None:
    assert render("${payload.a}", {"payload": b'{"a": "b"}'}) == "b"
    assert render("${payload}", {"payload": b"\xffraw"}) == "\ufffdraw"


def test_lists_are_not_indexed_and_none_is_undefined() -> None:
    event = {"l": [{"a": 1}], "n": None, "d": {"n": None}}
    assert render("${l.0}|${l.0.a}|${n}|${d.n}|${n.x}", event) == "undefined|undefined|undefined|undefined|undefined"


def test_lookup_returns_values() -> None:
    event = publish_event()
    assert lookup(event, "payload.msg") == "hello"
    assert lookup(event, "flags") == {"retain": False, "dup": False}
    assert lookup(event, "nope") is None
    assert lookup(event, ".") is event


# ----------------------------------------------------------------------------------------- value to text

@pytest.mark.parametrize(("value", "text"), [
    ("as-is ${x}", "as-is ${x}"), (0, "0"), (-17, "-17"), (2**70, "1180591620717411303424"),
    (1.0, "1.0"), (0.1, "0.1"), (1 / 3, "0.3333333333"), (2.5e-5, "0.000025"), (1e-11, "0.0"), (-0.0, "-0.0"),
    (1e22, "10000000000000000000000.0"), (123.456, "123.456"), (True, "true"), (False, "false"),
    (None, "undefined"), ({"a": [1, {"b": None}]}, '{"a":[1,{"b":null}]}'), ([], "[]"), ({}, "{}"),
    ({"é": "ü"}, '{"é":"ü"}'),
])
def test_value_to_text(value: Any, text: str) -> None:
    assert to_text(value) == text
    assert render("${v}", {"v": value}) == text


# ------------------------------------------------------------------------------------ hypothesis round trips

_keys = st.text(alphabet="abcXYZ019_", min_size=1, max_size=6)
_leaves = (st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10))
_trees = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
                      max_leaves=20)
_events = st.dictionaries(_keys, _trees, min_size=1, max_size=6)


def _paths(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.append(((*prefix, key), value))
            out.extend(_paths(value, (*prefix, key)))
    return out


@settings(max_examples=200, deadline=None)
@given(_events)
def test_every_path_of_a_random_event_renders_its_value(event: dict[str, Any]) -> None:
    for path, value in _paths(event):
        assert render("<${" + ".".join(path) + "}>", event) == f"<{to_text(value)}>"
    assert orjson.loads(render("${.}", event)) == orjson.loads(orjson.dumps(event))


@settings(max_examples=200, deadline=None)
@given(_events)
def test_paths_inside_a_json_string_render_as_in_the_object(event: dict[str, Any]) -> None:
    wrapped = {"payload": orjson.dumps(event).decode()}
    decoded = orjson.loads(wrapped["payload"])  # what the walk sees (floats round-trip exactly in JSON)
    for path, value in _paths(decoded):
        expected = "null" if value is None else to_text(value)
        assert render("${payload." + ".".join(path) + "}", wrapped) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="${}.aZ9_ -", max_size=30), _events)
def test_compiling_fails_only_with_template_errors_and_rendering_never_fails(text: str, event: dict[str, Any]) -> None:
    try:
        template = Template.compile(text)
    except TemplateError as err:
        assert 0 <= err.position < len(text)
        assert text[err.position:err.position + 2] == "${"
        return
    assert isinstance(template.render(event), str)


# ------------------------------------------------------------------------------------------ request bodies

def test_unset_body_is_the_whole_event_json() -> None:
    event = publish_event()
    assert orjson.loads(render_json_body(None, event)) == event
    assert render_json_body(None, event) == orjson.dumps(event)


def test_body_templates_render_as_text() -> None:
    event = publish_event()
    body = '{"who":"${clientid}","msg":"${payload.msg}","raw":${payload},"rule":"${metadata.rule_id}"}'
    assert orjson.loads(render_json_body(body, event)) == {"who": "c_emqx_1", "msg": "hello",
                                                          "raw": {"msg": "hello"}, "rule": "demo_WH_D"}
    assert render_json_body("", event) == b""  # EMQX: an empty body (PR emqx/emqx#9705)
    assert orjson.loads(render_json_body("${.}", event)) == event
    assert render_json_body(Template.compile("${payload.msg}"), event) == b"hello"


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_every_catalogue_event_renders_through_a_body_template(spec: Any) -> None:
    event = {**spec.example, "metadata": {"rule_id": "x_WH_D"}}
    out = render_json_body('{"e":"${event}","c":"${clientid}","n":"${node}","t":${timestamp}}', event)
    assert orjson.loads(out) == {"e": spec.name, "c": event["clientid"], "n": "hookmq@127.0.0.1",
                                 "t": event["timestamp"]}


# ------------------------------------------------------------------------------------------ URL and headers

def test_request_template_renders_url_headers_and_body() -> None:
    request = RequestTemplate.compile("https://hooks.example.com:8443/mqtt/${clientid}?topic=${topic}",
                                      {"content-type": "application/json", "x-client": "${clientid}",
                                       "x-payload": "${payload}"}, None)
    event = {**publish_event(), "payload": "line1\r\nx-evil: 1"}
    assert request.base == "https://hooks.example.com:8443"
    assert request.render_url(event) == "https://hooks.example.com:8443/mqtt/c_emqx_1?topic=t/a"
    headers = request.render_headers(event)
    assert headers["x-client"] == "c_emqx_1"
    assert headers["x-payload"] == "line1  x-evil: 1"  # no header injection from event data
    assert orjson.loads(request.render_body(event)) == event


@pytest.mark.parametrize(("url", "base", "rest"), [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080", ""),
    ("https://example.com/", "https://example.com", "/"),
    ("http://[::1]:9000/a?b=${c}", "http://[::1]:9000", "/a?b=${c}"),
    ("HTTP://Example.COM/x", "HTTP://Example.COM", "/x"),
])
def test_split_url(url: str, base: str, rest: str) -> None:
    got_base, path = split_url(url)
    assert (got_base, path.text) == (base, rest)


@pytest.mark.parametrize(("url", "words"), [
    ("ftp://x", "http:// or https://"), ("example.com/hook", "http:// or https://"),
    ("http//example.com", "http:// or https://"), ("http://user:pw@example.com/", "user:password@"),
    ("http://${host}/x", "only in the path"), ("http://h:${port}/x", "only in the path"),
    ("http://h:0/", "port"), ("http://h:70000/", "port"), ("http://h:abc/", "port"), ("http:///x", "host"),
    ("http://h/x#frag", "fragment"), ("http://h/a b", "spaces"), ("http://h/${a", "unterminated"),
])
def test_split_url_errors(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        split_url(url)


@pytest.mark.parametrize(("name", "value", "words"), [
    ("x y", "v", "HTTP token"), ("x:y", "v", "HTTP token"), ("", "v", "HTTP token"),
    ("x-a", "a\r\nb", "line breaks"), ("x-a", "${a", "the value of 'x-a': unterminated"),
])
def test_check_header_errors(name: str, value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        check_header(name, value)


def test_rendering_is_fast() -> None:
    # Precompiled templates render with no parsing: a typical URL + body well under 10 µs each.
    request = RequestTemplate.compile("http://h/hook/${clientid}/${topic}", {"x-id": "${id}"},
                                      '{"c":"${clientid}","m":"${payload.msg}","q":${qos}}')
    event = publish_event()
    start = time.perf_counter()
    for _ in range(10_000):
        request.render_url(event)
        request.render_headers(event)
        request.render_body(event)
    assert time.perf_counter() - start < 1.0
