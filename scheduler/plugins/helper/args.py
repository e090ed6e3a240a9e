"""Validation of plugin ``args`` from a profile, with errors that name the plugin and field.

Who calls: every built-in plugin's constructor, once, with the ``args`` mapping of its
profile entry. A bad value raises ``ValueError`` reading
``plugin <Name>: args.<field>: <problem> (got <value>)``; unknown fields are rejected so a
misspelt option never passes silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["NoArgs", "PluginArgs", "parse_args"]

A = TypeVar("A", bound=BaseModel)


class PluginArgs(BaseModel):
    """Base of every plugin's args model: frozen, camelCase names accepted, extras rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoArgs(PluginArgs):
    """Args of a plugin that takes none (any field is an error)."""


def parse_args(plugin: str, model: type[A], args: Mapping[str, Any] | None) -> A:
    """Validate ``args`` into ``model``; ValueError naming ``plugin``, the field and the value."""
    try:
        return model.model_validate(dict(args or {}))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        field = f"args.{where}" if where else "args"
        problem = str(first["msg"]).removeprefix("Value error, ")
        raise ValueError(
            f"plugin {plugin}: {field}: {problem} (got {first.get('input')!r})"
        ) from err
