"""The exception types of ``scheduler.api``.

All of them are :class:`ValueError` subclasses, so callers that only care about "bad input"
catch ``ValueError``; callers that report locations (the CLI, the webhook) catch the
specific types and read their attributes.

* :class:`FieldError` — one field of one object is malformed (raised by conversion and by the
  selector compilers); carries the field path inside the object.
* :class:`InvalidSelectorError` — a label selector cannot be turned into a matcher (an
  unknown operator, ``In`` without values, a bad label key). Raised where upstream's
  ``metav1.LabelSelectorAsSelector`` returns an error.
* :class:`LoadError` — an input file, document or object could not be turned into models;
  the message names the file, the 1-based document and list-item index, the object's kind
  and name, the field path and the offending value.
"""

from __future__ import annotations

from collections.abc import Sequence

FieldPath = tuple[str | int, ...]


def format_field_path(path: Sequence[str | int]) -> str:
    """Render a field path the way Kubernetes prints them: ``spec.devices[3].capacity.memory``.

    List indices are 0-based and bracketed; map keys that are not plain identifiers (label
    keys, qualified attribute names such as ``gpu.nvidia.com/model``) are bracketed too.
    """
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.replace("_", "a").isalnum() and part.isascii():
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{part}]")
    return "".join(out)


class FieldError(ValueError):
    """A malformed field inside one object: ``path`` (from the object root) and ``message``."""

    def __init__(self, path: Sequence[str | int], message: str) -> None:
        self.path: FieldPath = tuple(path)
        self.message = message
        where = format_field_path(self.path)
        super().__init__(f"{where}: {message}" if where else message)


class InvalidSelectorError(ValueError):
    """A label selector that cannot be evaluated; the message names the field and value."""


class LoadError(ValueError):
    """Input that cannot be loaded into models, with its full location.

    The message reads ``<source>: document <d>, item <i> (<Kind> <name>): <path>: <problem>``;
    parts that do not apply are left out. The pieces are kept as attributes for callers
    that build their own reports.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str,
        document: int | None = None,
        item: int | None = None,
        kind: str | None = None,
        name: str | None = None,
        path: Sequence[str | int] = (),
    ) -> None:
        self.problem = problem
        self.source = source
        self.document = document
        self.item = item
        self.kind = kind
        self.name = name
        self.path: FieldPath = tuple(path)
        super().__init__(self._render())

    def _render(self) -> str:
        where: list[str] = []
        if self.document is not None:
            where.append(f"document {self.document}")
        if self.item is not None:
            where.append(f"item {self.item}")
        head = self.source
        if where:
            head += ": " + ", ".join(where)
        if self.kind:
            head += f" ({self.kind} {self.name})" if self.name else f" ({self.kind})"
        field = format_field_path(self.path)
        return f"{head}: {field}: {self.problem}" if field else f"{head}: {self.problem}"
