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

__all__ = ["NoArgs", "PluginArgs", "args_problem", "parse_args"]

A = TypeVar("A", bound=BaseModel)


class PluginArgs(BaseModel):
    """Base of every plugin's args model: frozen, camelCase names accepted, extras rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoArgs(PluginArgs):
    """Args of a plugin that takes none (any field is an error)."""


def args_problem(plugin: str, err: ValidationError) -> str:
    """The first error of a plugin args validation as one line:
    ``plugin <Name>: args.<field>: <problem> (got <value>)``."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    field = f"args.{where}" if where else "args"
    problem = str(first["msg"]).removeprefix("Value error, ")
    got = repr(first.get("input"))
    if len(got) > 60:
        got = got[:57] + "..."
    return f"plugin {plugin}: {field}: {problem} (got {got})"


def parse_args(plugin: str, model: type[A], args: Mapping[str, Any] | None) -> A:
    """Validate ``args`` into ``model``; ValueError naming ``plugin``, the field and the value."""
    try:
        return model.model_validate(dict(args or {}))
    except ValidationError as err:
        raise ValueError(args_problem(plugin, err)) from err
