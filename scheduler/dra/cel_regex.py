"""The Kubernetes CEL regex library (``find``, ``findAll``) with RE2 semantics.

Patterns are first validated by RE2 itself (through the CEL runtime's ``matches``), so a
pattern Go's ``regexp`` rejects is an error here too. Matching is then done by Python's
:mod:`re` on a translation that gives the RE2 meaning: ``\\d``, ``\\w``, ``\\s``, ``\\b`` are
ASCII, ``$`` is end of text unless ``(?m)``, ``x{,n}`` is literal, ``\\x{HHHH}`` and
``(?<name>...)`` are rewritten. RE2 constructs with no faithful translation (Unicode classes
``\\p{..}``, POSIX classes ``[[:alpha:]]``, ``\\Q..\\E``, ``\\C``, octal escapes, the ``U``
flag, mid-pattern or ``m``-scoped flags, case folding of non-ASCII text) raise a runtime error
``unsupported regular expression ...`` instead of answering differently from upstream.

``findAll`` follows Go's ``FindAllString``: an empty match right after the previous match is
skipped.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from cel_expr_python import cel

from scheduler.dra.cel_values import CelEvalError, no_such_overload

_SHORTHANDS = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[0-9A-Za-z_]",
    "W": "[^0-9A-Za-z_]",
    "s": "[\\t\\n\\f\\r ]",
    "S": "[^\\t\\n\\f\\r ]",
}
_CLASS_SHORTHANDS = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_SIMPLE_ESCAPES = frozenset("afnrtvbBA")
_REPEAT = re.compile(r"\{\d+(,\d*)?\}")
_FLAGS = re.compile(r"\(\?([a-zA-Z]+)\)")


class _Unsupported(ValueError):
    pass


_validator_env: Any = None


def re2_error(pattern: str) -> str | None:
    """RE2's complaint about a pattern (via the CEL runtime's ``matches``), or None."""
    global _validator_env  # noqa: PLW0603 - lazily built, process-wide, immutable once built
    if _validator_env is None:
        _validator_env = cel.NewEnv(variables={"p": cel.Type.STRING})
    result = _validator_env.compile('"".matches(p)').eval(data={"p": pattern})
    if result.type() == cel.Type.BOOL:
        return None
    message = str(result.value())
    return message.split(": ", 1)[1] if ": " in message else message


def _translate_hex(pattern: str, index: int) -> tuple[str, int]:
    """Translate ``\\x{H..}`` starting at the ``x``; return (python text, next index)."""
    close = pattern.index("}", index)
    char = chr(int(pattern[index + 2 : close], 16))
    return re.escape(char), close + 1


def _translate_class(pattern: str, index: int) -> tuple[str, int]:
    """Translate a character class starting at ``[``; return (python text, next index)."""
    out = ["["]
    i = index + 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    previous = ""
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if char == "[" and pattern.startswith("[:", i):
            raise _Unsupported("POSIX character classes")
        if char == "\\":
            nxt = pattern[i + 1]
            if nxt in _CLASS_SHORTHANDS:
                out.append(_CLASS_SHORTHANDS[nxt])
                i += 2
            elif nxt == "x" and pattern.startswith("{", i + 2):
                text, i = _translate_hex(pattern, i + 1)
                out.append(text)
            elif nxt.isalnum() and nxt not in "afnrtvx":
                raise _Unsupported(f"escape \\{nxt} in a character class")
            else:
                out.append(pattern[i : i + 2])
                i += 2
            previous = ""
            continue
        if char in "[&~|" or (char == "-" and previous == "-"):
            out.append("\\" + char)
        else:
            out.append(char)
        previous = char
        i += 1
    raise _Unsupported("unterminated character class")


def _leading_flags(pattern: str) -> tuple[str, int]:
    match = _FLAGS.match(pattern)
    if match is None:
        return pattern, 0
    flags = 0
    for letter in match.group(1):
        if letter == "i":
            flags |= re.IGNORECASE
        elif letter == "m":
            flags |= re.MULTILINE
        elif letter == "s":
            flags |= re.DOTALL
        else:
            raise _Unsupported(f"flag {letter!r}")
    return pattern[match.end() :], flags


def _translate(pattern: str) -> tuple[str, int]:
    """RE2 pattern -> (Python pattern, flags); raise _Unsupported where no faithful form."""
    body, flags = _leading_flags(pattern)
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1]
            if nxt in _SHORTHANDS:
                out.append(_SHORTHANDS[nxt])
            elif nxt == "z":
                out.append("\\Z")
            elif nxt == "x" and body.startswith("{", i + 2):
                text, i = _translate_hex(body, i + 1)
                out.append(text)
                continue
            elif nxt == "x" or nxt in _SIMPLE_ESCAPES or not nxt.isalnum():
                out.append(body[i : i + 2])
            else:
                raise _Unsupported(f"escape \\{nxt}")
            i += 2
        elif char == "[":
            text, i = _translate_class(body, i)
            out.append(text)
        elif char == "(" and body.startswith("(?", i):
            if body.startswith("(?P<", i) or body.startswith("(?:", i):
                out.append(body[i : i + 3])
                i += 3
            elif body.startswith("(?<", i):
                out.append("(?P<")
                i += 3
            else:
                raise _Unsupported("inline flags after the start of the pattern")
        elif char == "{":
            out.append("{" if _REPEAT.match(body, i) else "\\{")
            i += 1
        elif char == "$":
            out.append("$" if flags & re.MULTILINE else "\\Z")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out), flags


@lru_cache(maxsize=512)
def compile_re2(pattern: str) -> re.Pattern[str]:
    """A Python pattern with the RE2 meaning of ``pattern``; CelEvalError when invalid."""
    error = re2_error(pattern)
    if error is not None:
        raise CelEvalError(f"error parsing regexp: {error}")
    try:
        translated, flags = _translate(pattern)
        return re.compile(translated, flags | re.ASCII)
    except (_Unsupported, re.error, IndexError, ValueError) as exc:
        raise CelEvalError(
            f"unsupported regular expression {pattern!r} for find/findAll: {exc}"
        ) from exc


def _checked(text: Any, pattern: Any) -> re.Pattern[str]:
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise no_such_overload()
    compiled = compile_re2(pattern)
    if compiled.flags & re.IGNORECASE and not (text.isascii() and pattern.isascii()):
        raise CelEvalError(
            f"unsupported regular expression {pattern!r} for find/findAll: case folding of "
            "non-ASCII text"
        )
    return compiled


def cel_find(text: Any, pattern: Any) -> str:
    """CEL ``<string>.find(<regex>)``: the first match, or ``""``."""
    match = _checked(text, pattern).search(text)
    return match.group(0) if match else ""


def cel_find_all(text: Any, pattern: Any, limit: Any = -1) -> list[str]:
    """CEL ``<string>.findAll(<regex>[, <int>])`` (negative limit: all matches)."""
    compiled = _checked(text, pattern)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise no_such_overload()
    results: list[str] = []
    maximum = len(text) + 1 if limit < 0 else limit
    pos, previous_end = 0, -1
    while len(results) < maximum and pos <= len(text):
        match = compiled.search(text, pos)
        if match is None:
            break
        start, end = match.span()
        accept = True
        if end == pos:
            if start == previous_end:
                accept = False
            pos += 1
        else:
            pos = end
        previous_end = end
        if accept:
            results.append(match.group(0))
    return results
