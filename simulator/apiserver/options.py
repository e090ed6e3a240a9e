"""List and watch query parameters, validated as upstream does, and continue tokens.

Mirrors ``k8s.io/apimachinery/pkg/apis/meta/internalversion/validation`` (ValidateListOptions:
``resourceVersionMatch`` needs a ``resourceVersion``, ``Exact`` is forbidden for ``"0"``,
``sendInitialEvents`` needs ``watch``, ``allowWatchBookmarks`` and ``NotOlderThan``; violations
are 422 Invalid on ``ListOptions.meta.k8s.io``) and ``k8s.io/apiserver/pkg/storage/continue.go``
(the token is unpadded base64url of ``{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\\x00"}``;
a malformed one is 400, one that also sets ``resourceVersion`` is 400).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from simulator.apiserver.resources import Resource
from simulator.apiserver.selectors import (
    FieldTerm,
    LabelMatcher,
    parse_field_selector,
    parse_label_selector,
)
from simulator.apiserver.status import ApiError, bad_request
from simulator.apiserver.store import Key

DEFAULT_WATCH_TIMEOUT = 1800.0
"""Watch length when ``timeoutSeconds`` is absent (upstream: ``--min-request-timeout``)."""

NOT_OLDER_THAN = "NotOlderThan"
EXACT = "Exact"


@dataclass(frozen=True, slots=True)
class ListOptions:
    """Parsed query of a list or watch request."""

    labels: LabelMatcher | None = None
    fields: tuple[FieldTerm, ...] = ()
    limit: int = 0
    start_rv: int | None = None
    start_after: Key | None = None
    resource_version: str | None = None
    match: str | None = None
    watch: bool = False
    bookmarks: bool = False
    timeout: float = DEFAULT_WATCH_TIMEOUT
    send_initial_events: bool | None = None

    @property
    def rv_number(self) -> int | None:
        """``resourceVersion`` as a number (None when unset or empty)."""
        return int(self.resource_version) if self.resource_version else None


def _bool(query: Mapping[str, str], name: str) -> bool | None:
    value = query.get(name)
    if value is None:
        return None
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0", ""):
        return False
    raise bad_request(f'{name}: invalid value "{value}": expected true or false')


def _int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise bad_request(f'{name}: invalid value "{value}": not an integer') from None
    if n < 0 or n > 2**63 - 1:
        raise bad_request(f'{name}: invalid value "{value}": must be a non-negative int64')
    return n


def _invalid(message: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: {message}',
        details={"group": "meta.k8s.io", "kind": "ListOptions", "causes": []},
    )


def encode_continue(rv: int, key: Key, resource: Resource) -> str:
    """The continue token of a page ending at ``key``, pinned to version ``rv``."""
    start = (f"{key[0]}/{key[1]}" if resource.namespaced else key[1]) + "\x00"
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_continue(token: str, resource: Resource) -> tuple[int, Key]:
    """(version, last key of the previous page) of a continue token; 400 if malformed."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad_request(f"continue key is not valid: {token!r} is not an encoded token") from None
    if not isinstance(data, dict) or data.get("v") != "meta.k8s.io/v1":
        raise bad_request("continue key is not valid: server does not recognize this encoded key")
    rv, start = data.get("rv"), data.get("start")
    if not isinstance(rv, int) or isinstance(rv, bool) or rv <= 0:
        raise bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion "
            "(version meta.k8s.io/v1)"
        )
    if not isinstance(start, str) or not start or ".." in start:
        raise bad_request("continue key is not valid: encoded start key is invalid")
    start = start.removesuffix("\x00")
    if resource.namespaced:
        namespace, sep, name = start.partition("/")
        if not sep:
            raise bad_request("continue key is not valid: encoded start key is invalid")
        return rv, (namespace, name)
    return rv, ("", start)


def parse_list_options(query: Mapping[str, str], resource: Resource) -> ListOptions:
    """Parse and validate the query of a list/watch of ``resource`` (ApiError on bad input)."""
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"), resource)
    limit = _int(query, "limit") or 0
    watch = bool(_bool(query, "watch"))
    bookmarks = bool(_bool(query, "allowWatchBookmarks"))
    send_initial = _bool(query, "sendInitialEvents")
    timeout = _int(query, "timeoutSeconds")
    rv = query.get("resourceVersion")
    if rv:
        try:
            if int(rv) < 0:
                raise ValueError(rv)
        except ValueError:
            raise bad_request(f'invalid resource version "{rv}"') from None
    match = query.get("resourceVersionMatch") or None
    if match is not None and match not in (NOT_OLDER_THAN, EXACT):
        raise _invalid(
            f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
            f'"{EXACT}", "{NOT_OLDER_THAN}", ""'
        )
    if send_initial is not None:
        if not watch:
            raise _invalid("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list")
        if match != NOT_OLDER_THAN:
            raise _invalid(
                f"resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                f"resourceVersionMatch to {NOT_OLDER_THAN}"
            )
        if not bookmarks:
            raise _invalid(
                "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting "
                "allowWatchBookmarks to true"
            )
    elif watch and match is not None:
        raise _invalid(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
            "unless sendInitialEvents is provided"
        )
    elif match is not None and not rv:
        raise _invalid(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
            "resourceVersion is provided"
        )
    if match == EXACT and rv == "0":
        raise _invalid(
            'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for '
            'resourceVersion "0"'
        )
    start_rv: int | None = None
    start_after: Key | None = None
    token = query.get("continue")
    if token and not watch:
        if rv or match:
            raise bad_request("specifying resource version is not allowed when using continue")
        start_rv, start_after = decode_continue(token, resource)
    return ListOptions(
        labels=labels,
        fields=fields,
        limit=limit,
        start_rv=start_rv,
        start_after=start_after,
        resource_version=rv,
        match=match,
        watch=watch,
        bookmarks=bookmarks,
        timeout=float(timeout) if timeout else DEFAULT_WATCH_TIMEOUT,
        send_initial_events=send_initial,
    )
