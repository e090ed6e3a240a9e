"""One-line problems from pydantic validation errors, for the simulator's YAML documents.

The plan, scenario and cluster-spec loaders report a bad document as ``source: invalid KIND:
field.path: message (got value)``; this module holds the pieces they share: the field path a
pydantic ``loc`` names, the first error of a :class:`~pydantic.ValidationError` as one line,
and the validation of a parsed YAML mapping that raises it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["field_path", "first_problem", "parse_mapping"]

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...], tags: Collection[str] = ()) -> str:
    """``a.b[2].c`` for the pydantic ``loc`` ``("a", "b", 2, "c")``.

    Parts in ``tags`` (the tags of a discriminated or tagged union, which name a union member,
    not a field) are left out.
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in tags:
            continue
        else:
            text += f".{part}" if text else str(part)
    return text


def first_problem(exc: ValidationError, tags: Collection[str] = ()) -> str:
    """The first error of ``exc`` as ``field.path: message (got value) (and N more problems)``.

    Pydantic's ``Value error, `` prefix is dropped; the input is shown (cut to 60 characters)
    unless the field is missing or a validator raised the message itself. A validator message
    that starts with ``[i] `` names a list item of the field: the index moves onto the path.
    ``tags`` as for :func:`field_path`.
    """
    errors = exc.errors()
    first = errors[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] not in ("missing", "value_error"):
        shown = repr(first.get("input"))
        message += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    where = field_path(tuple(first["loc"]), tags)
    if message.startswith("[") and "]" in message:
        index, _, message = message.partition("] ")
        where += index + "]"
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return (f"{where}: {message}" if where else message) + suffix


def parse_mapping(
    model: type[M], data: Any, source: str, what: str, tags: Collection[str] = ()
) -> M:
    """``data`` (a parsed YAML document) validated as ``model``.

    ValueError ``source: a WHAT must be a mapping, got TYPE`` when it is not a mapping, else
    ``source: invalid WHAT: PROBLEM`` (:func:`first_problem` with ``tags``).
    """
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a {what} must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{source}: invalid {what}: {first_problem(exc, tags)}") from None
