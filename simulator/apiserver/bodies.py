"""Request bodies: JSON or YAML bytes to a JSON value, and the shape limits on stored objects.

Called by the app for every body (:func:`decode`) and by the handlers before an object is
stored (:func:`check_depth`). Every failure is an :class:`ApiError` 400 naming the problem.

* JSON is parsed by orjson: invalid UTF-8, lone surrogates, trailing data and numbers beyond
  a double are rejected; integers beyond 64 bits become doubles (as Go's ``float64``).
* YAML is parsed with PyYAML's safe loader and converted as ``sigs.k8s.io/yaml``'s
  ``YAMLToJSON`` does (``yaml.go`` ``convertToJSONableObject``): timestamps stay strings (the
  loader does not resolve them, like go-yaml v2 decoding into ``interface{}``); integer,
  float and boolean map keys become their string form; integers beyond 64 bits become
  doubles; a null or compound key, a binary or set value, and NaN or an infinity (which
  ``encoding/json`` cannot encode) are 400 ``error converting YAML to JSON: ...``. Several
  documents in one body are a 400 too.
* Aliases: go-yaml v2 (``decode.go``, ``allowedAliasRatio``) refuses a document in which more
  than 100 of over 1,000 decoded nodes come from alias expansion and their share exceeds
  99% (small documents) down to 10% (4M nodes); the same count is made here while
  converting (a container met a second time is an alias), with go-yaml's message
  ``yaml: document contains excessive aliasing``. This is what stops a "billion laughs"
  body from expanding into gigabytes.
* Nesting: upstream's decoders allow 10,000 levels (Go ``encoding/json``'s
  ``maxNestingDepth``); the facade allows :data:`MAX_DEPTH` — objects are handled by
  recursive Python code and stored by orjson, whose encoder stops at 255 levels — and says
  so in the message. No Kubernetes object of the served kinds comes near it.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import yaml

from simulator.apiserver.status import bad_request

MAX_DEPTH = 100
"""Deepest nesting of objects and arrays the facade accepts in a body or stores."""

_ALIAS_RANGE_LOW = 400_000
_ALIAS_RANGE_HIGH = 4_000_000
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader without timestamp resolution (timestamps stay strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _too_deep() -> Exception:
    return bad_request(
        f"the object is nested more than {MAX_DEPTH} levels deep (the limit of tessera's API "
        "facade)"
    )


def _yaml_error(message: str) -> Exception:
    return bad_request(f"error converting YAML to JSON: {message}")


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_RANGE_LOW:
        return 0.99
    if decoded >= _ALIAS_RANGE_HIGH:
        return 0.10
    span = _ALIAS_RANGE_HIGH - _ALIAS_RANGE_LOW
    return 0.99 - 0.89 * (decoded - _ALIAS_RANGE_LOW) / span


class _Converter:
    """One walk over a decoded body: depth, alias expansion and (for YAML) JSON conversion."""

    def __init__(self, *, yaml_source: bool) -> None:
        self.yaml_source = yaml_source
        self.decoded = 0
        self.aliased = 0
        self.seen: set[int] = set()

    def _count(self, in_alias: bool) -> None:
        self.decoded += 1
        if in_alias:
            self.aliased += 1
            if (
                self.aliased > 100
                and self.decoded > 1000
                and self.aliased / self.decoded > _allowed_alias_ratio(self.decoded)
            ):
                raise bad_request("yaml: document contains excessive aliasing")

    def convert(self, value: Any, depth: int, in_alias: bool) -> Any:
        self._count(in_alias)
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise _too_deep()
            if self.yaml_source:
                if id(value) in self.seen:
                    in_alias = True
                self.seen.add(id(value))
            if isinstance(value, list):
                return [self.convert(v, depth + 1, in_alias) for v in value]
            return {self.key(k): self.convert(v, depth + 1, in_alias) for k, v in value.items()}
        return self.scalar(value)

    def key(self, key: Any) -> str:
        if isinstance(key, str):
            return key
        if isinstance(key, bool):
            return "true" if key else "false"
        if isinstance(key, int):
            return str(key)
        if isinstance(key, float):
            return _go_float(key)
        raise _yaml_error(f"unsupported map key of type: {type(key).__name__}, key: {key!r}")

    def scalar(self, value: Any) -> Any:
        if value is None or isinstance(value, str | bool):
            return value
        if isinstance(value, int):
            return value if _INT64_MIN <= value <= _UINT64_MAX else float(value)
        if isinstance(value, float):
            if not math.isfinite(value):  # Go's encoding/json names them NaN, +Inf, -Inf
                shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
                raise _yaml_error(f"json: unsupported value: {shown}")
            return value
        raise _yaml_error(f"unsupported value of type {type(value).__name__}")


def _go_float(value: float) -> str:
    """A float key as go-yaml writes it (``strconv.FormatFloat(f, 'g', -1, 32)``)."""
    if math.isnan(value):
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    return text.removesuffix(".0")


def decode_json(raw: bytes) -> Any:
    """A JSON body as a value (400 on malformed JSON or nesting beyond :data:`MAX_DEPTH`)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            f"the body of the request could not be decoded: {str(exc).splitlines()[0]}"
        ) from None
    return _Converter(yaml_source=False).convert(value, 0, False)


def decode_yaml(raw: bytes) -> Any:
    """A YAML body as a JSON value (see the module docstring)."""
    try:
        value = yaml.load(raw, Loader=_Loader)  # a subclass of the safe loader
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise bad_request(f"the body of the request could not be decoded: {first}") from None
    return _Converter(yaml_source=True).convert(value, 0, False)


def check_depth(obj: Any) -> None:
    """400 when ``obj`` (an object about to be stored, e.g. after a JSON patch) nests deeper
    than :data:`MAX_DEPTH`."""
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_DEPTH:
            raise _too_deep()
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children)
