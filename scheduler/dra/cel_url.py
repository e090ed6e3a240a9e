"""The Kubernetes CEL URL library (``url``, ``isURL``, ``getScheme`` ... ``getQuery``).

Upstream validates with Go's ``url.ParseRequestURI`` (absolute URI or absolute path) and then
reads the components from ``url.Parse``. :func:`parse_url` reproduces the parts of Go's
``net/url`` these functions observe: scheme detection, the ``?``/``#`` split, authority and
host validation (ports must be digits, ``%`` escapes in hosts only for non-ASCII bytes or
``%25`` zones, forbidden host characters), userinfo validation, percent-decoding of the path
with ``RawPath`` kept when the original escaping is not the default one, and query parsing
into a map of lists (``+`` is a space, malformed pairs and ``;`` pairs are dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_to_bytes

from scheduler.dra import cel_objects
from scheduler.dra.cel_values import CelEvalError, no_such_overload

_HEX = frozenset("0123456789abcdefABCDEF")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HOST_OK = frozenset("!$&'()*+,;=:[]<>\"")
_UNRESERVED_MARK = frozenset("-_.~")
_RESERVED = frozenset("$&+,/:;=?@")
_USERINFO_OK = frozenset("-._:~!$&'()*+,;=%@")
_VALID_ENCODED_EXTRA = frozenset("!$&'()*+,;=:@[]%")


@dataclass(frozen=True)
class ParsedURL:
    """The Go ``url.URL`` fields the CEL functions read."""

    scheme: str
    host: str
    path: str
    raw_path: str
    raw_query: str


def _should_escape(char: str, mode: str) -> bool:
    if char in _ALNUM:
        return False
    if mode == "host" and char in _HOST_OK:
        return False
    if char in _UNRESERVED_MARK:
        return False
    if char in _RESERVED:
        if mode == "path":
            return char == "?"
        if mode == "userinfo":
            return char in "@/?:"
        if mode == "query":
            return True
    return True


def _unescape(text: str, mode: str) -> str:
    """Go's ``unescape`` for path, host and query-component modes."""
    index = 0
    raw = text.encode("utf-8")
    while index < len(raw):
        byte = raw[index]
        if byte == ord("%"):
            escape = raw[index : index + 3].decode("utf-8", "replace")
            if len(escape) < 3 or escape[1] not in _HEX or escape[2] not in _HEX:
                raise ValueError(f"invalid URL escape {escape!r}")
            if mode == "host" and int(escape[1], 16) < 8 and escape != "%25":
                raise ValueError(f"invalid URL escape {escape!r}")
            index += 3
            continue
        if mode == "host" and byte < 0x80 and _should_escape(chr(byte), "host"):
            raise ValueError(f"invalid character {chr(byte)!r} in host name")
        index += 1
    if mode == "query":
        text = text.replace("+", " ")
    return unquote_to_bytes(text).decode("utf-8", "surrogateescape")


def _escape_path(path: str) -> str:
    out = []
    for byte in path.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        if byte < 0x80 and not _should_escape(char, "path"):
            out.append(char)
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def _valid_port(port: str) -> bool:
    return port == "" or (port[0] == ":" and all(c in "0123456789" for c in port[1:]))


def _parse_host(host: str) -> str:
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise ValueError("missing ']' in host")
        if not _valid_port(host[close + 1 :]):
            raise ValueError(f"invalid port {host[close + 1 :]!r} after host")
    else:
        colon = host.rfind(":")
        if colon != -1 and not _valid_port(host[colon:]):
            raise ValueError(f"invalid port {host[colon:]!r} after host")
    return _unescape(host, "host")


def _parse_authority(authority: str) -> str:
    at = authority.rfind("@")
    host = _parse_host(authority[at + 1 :] if at >= 0 else authority)
    if at >= 0:
        userinfo = authority[:at]
        if any(c not in _ALNUM and c not in _USERINFO_OK for c in userinfo):
            raise ValueError("net/url: invalid userinfo")
        _unescape(userinfo, "userinfo")
    return host


def _split_scheme(raw: str) -> tuple[str, str]:
    for index, char in enumerate(raw):
        if char.isascii() and char.isalpha():
            continue
        if char.isascii() and (char.isdigit() or char in "+-."):
            if index == 0:
                return "", raw
            continue
        if char == ":":
            if index == 0:
                raise ValueError("missing protocol scheme")
            return raw[:index], raw[index + 1 :]
        return "", raw
    return "", raw


def _parse(raw: str, via_request: bool) -> ParsedURL:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise ValueError("net/url: invalid control character in URL")
    if raw == "" and via_request:
        raise ValueError("empty url")
    if raw == "*":
        return ParsedURL("", "", "*", "", "")
    scheme, rest = _split_scheme(raw)
    scheme = scheme.lower()
    raw_query = ""
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    elif "?" in rest:
        rest, raw_query = rest.split("?", 1)
    if not rest.startswith("/"):
        if scheme:
            return ParsedURL(scheme, "", "", "", raw_query)
        if via_request:
            raise ValueError("invalid URI for request")
        if ":" in rest.split("/", 1)[0]:
            raise ValueError("first path segment in URL cannot contain colon")
    host = ""
    if (scheme or (not via_request and not rest.startswith("///"))) and rest.startswith("//"):
        authority, rest = rest[2:], ""
        slash = authority.find("/")
        if slash >= 0:
            authority, rest = authority[:slash], authority[slash:]
        host = _parse_authority(authority)
    path = _unescape(rest, "path")
    raw_path = "" if _escape_path(path) == rest else rest
    return ParsedURL(scheme, host, path, raw_path, raw_query)


@lru_cache(maxsize=1024)
def parse_url(raw: str) -> ParsedURL:
    """``url(raw)`` semantics: ParseRequestURI must accept it, components come from Parse."""
    try:
        _parse(raw, via_request=True)
        fragment_free = raw.split("#", 1)[0]
        if "#" in raw:
            _unescape(raw.split("#", 1)[1], "fragment")
        return _parse(fragment_free, via_request=False)
    except ValueError as exc:
        raise CelEvalError(f"URL parse error during conversion from string: {exc}") from exc


def _split_host_port(host: str) -> tuple[str, str]:
    name, port = host, ""
    colon = name.rfind(":")
    if colon != -1 and _valid_port(name[colon:]):
        name, port = name[:colon], name[colon + 1 :]
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name, port


def _escaped_path(parsed: ParsedURL) -> str:
    raw = parsed.raw_path
    if raw and all(
        c in _ALNUM or c in _VALID_ENCODED_EXTRA or not _should_escape(c, "path") for c in raw
    ):
        try:
            if _unescape(raw, "path") == parsed.path:
                return raw
        except ValueError:
            pass
    if parsed.path == "*":
        return "*"
    return _escape_path(parsed.path)


def _query(raw_query: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for pair in raw_query.split("&"):
        if ";" in pair or not pair:
            continue
        key, _, value = pair.partition("=")
        try:
            key, value = _unescape(key, "query"), _unescape(value, "query")
        except ValueError:
            continue
        result.setdefault(key, []).append(value)
    return result


def _require(value: Any) -> ParsedURL:
    text = cel_objects.encoded(value, cel_objects.URL)
    if text is not None:
        return parse_url(text)
    raise no_such_overload()


def cel_url(text: Any) -> Any:
    """CEL ``url(string)``."""
    if not isinstance(text, str):
        raise no_such_overload()
    parse_url(text)
    return cel_objects.make(cel_objects.URL, text)


def cel_is_url(text: Any) -> bool:
    """CEL ``isURL(string)``: ParseRequestURI accepts it."""
    if not isinstance(text, str):
        raise no_such_overload()
    try:
        _parse(text, via_request=True)
    except ValueError:
        return False
    return True


def cel_url_part(value: Any, part: str) -> Any:
    """CEL ``getScheme`` / ``getHost`` / ``getHostname`` / ``getPort`` / ``getEscapedPath`` /
    ``getQuery`` on an encoded URL."""
    parsed = _require(value)
    if part == "scheme":
        return parsed.scheme
    if part == "host":
        return parsed.host
    if part == "hostname":
        return _split_host_port(parsed.host)[0]
    if part == "port":
        return _split_host_port(parsed.host)[1]
    if part == "path":
        return _escaped_path(parsed)
    return _query(parsed.raw_query)
