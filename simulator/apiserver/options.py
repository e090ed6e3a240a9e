"""List and watch query parameters, validated as upstream does, and continue tokens.

Mirrors ``k8s.io/apimachinery/pkg/apis/meta/internalversion/validation`` (ValidateListOptions:
``resourceVersionMatch`` needs a ``resourceVersion`` and no ``continue``, ``Exact`` is
forbidden for ``"0"``, ``sendInitialEvents`` needs ``watch`` and ``NotOlderThan``; all
violations together are one 422 Invalid on ``ListOptions.meta.k8s.io``) and
``k8s.io/apiserver/pkg/storage/continue.go`` (the token is unpadded base64url of
``{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\\x00"}``;
a malformed one is 400, one that also sets ``resourceVersion`` is 400).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from simulator.apiserver import status
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
        """``resourceVersion`` as a number (None when unset, empty or ``"0"``)."""
        return parse_resource_version(self.resource_version)


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


def _invalid(errors: list[tuple[str, str, str]]) -> ApiError:
    return status.invalid_kind("meta.k8s.io", "ListOptions", "", errors)


def _forbidden(field: str, message: str) -> tuple[str, str, str]:
    return ("FieldValueForbidden", field, f"Forbidden: {message}")


def _not_supported(field: str, value: str, supported: tuple[str, ...]) -> tuple[str, str, str]:
    values = ", ".join(f'"{v}"' for v in supported)
    return (
        "FieldValueNotSupported",
        field,
        f'Unsupported value: "{value}": supported values: {values}',
    )


def parse_resource_version(value: str | None) -> int | None:
    """A ``resourceVersion`` query value as a number (None when unset, empty or ``"0"``, which
    all mean "any"); 400 for anything but a uint64, with the etcd3 store's wording
    (``invalid resource version: strconv.ParseUint: ...``; ``APIObjectVersioner`` parses
    versions as uint64)."""
    if not value or value == "0":
        return None
    if not value.isascii() or not value.isdigit():
        reason = "invalid syntax"
    elif int(value) > 2**64 - 1:
        reason = "value out of range"
    else:
        return int(value)
    raise bad_request(f'invalid resource version: strconv.ParseUint: parsing "{value}": {reason}')


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


def _validate(
    watch: bool, rv: str | None, match: str | None, token: str | None, send_initial: bool | None
) -> list[tuple[str, str, str]]:
    """Upstream's ``ValidateListOptions`` / ``validateWatchOptions`` with the WatchList feature
    on (as in 1.35): every violation, in upstream's order."""
    errors: list[tuple[str, str, str]] = []
    continue_forbidden = _forbidden(
        "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"
    )
    if watch:
        if send_initial is not None and match != NOT_OLDER_THAN:
            errors.append(
                _forbidden(
                    "resourceVersionMatch",
                    f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}",
                )
            )
        if match:
            if send_initial is None:
                errors.append(
                    _forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden for watch unless sendInitialEvents "
                        "is provided",
                    )
                )
            if match != NOT_OLDER_THAN:
                errors.append(_not_supported("resourceVersionMatch", match, (NOT_OLDER_THAN,)))
            if token:
                errors.append(continue_forbidden)
        return errors
    if match:
        if not rv:
            errors.append(
                _forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        if token:
            errors.append(continue_forbidden)
        if match not in (EXACT, NOT_OLDER_THAN):
            errors.append(
                _not_supported("resourceVersionMatch", match, (EXACT, NOT_OLDER_THAN, ""))
            )
        if match == EXACT and rv == "0":
            errors.append(
                _forbidden(
                    "resourceVersionMatch",
                    'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )
            )
    if send_initial is not None:
        errors.append(_forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return errors


def parse_list_options(query: Mapping[str, str], resource: Resource) -> ListOptions:
    """Parse and validate the query of a list/watch of ``resource`` (ApiError on bad input)."""
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"), resource)
    limit = _int(query, "limit") or 0
    watch = bool(_bool(query, "watch"))
    bookmarks = bool(_bool(query, "allowWatchBookmarks"))
    send_initial = _bool(query, "sendInitialEvents")
    timeout = _int(query, "timeoutSeconds")
    rv = query.get("resourceVersion") or None
    parse_resource_version(rv)
    match = query.get("resourceVersionMatch") or None
    token = query.get("continue") or None
    errors = _validate(watch, rv, match, token, send_initial)
    if errors:
        raise _invalid(errors)
    start_rv: int | None = None
    start_after: Key | None = None
    if token and not watch:
        if rv:
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
