"""What every fuzz test asserts about one run of the real CLI (in-process, ``CliRunner``).

* the exit code is 0 or 2 — never 1 (an unexpected exception) and never a traceback;
* an exit code 2 prints exactly one ``error: ...`` line on stderr;
* the run is bounded: a wall-clock alarm (:data:`RUN_SECONDS`) and a cap on the growth of
  the process's peak resident memory (:data:`MEMORY_GROWTH_BYTES`);
* every JSON file written parses with NaN and Infinity refused, every CSV has no ``nan`` or
  ``inf`` cell;
* the output directory holds no staging or temporary files afterwards (names starting with
  ``.``, or ending in ``.tmp``), and a failed run wrote nothing at all.

Mutations (:func:`mutate`) replace, delete or duplicate values of a parsed document with
values from :data:`ODD_VALUES` (wrong types, negatives, zero, huge numbers, NaN, infinities,
Go's zero time, far-future times, deep nesting) at paths Hypothesis chooses.
"""

from __future__ import annotations

import copy
import json
import math
import os
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from typer.testing import CliRunner

from simulator.cli import app

RUN_SECONDS = int(os.environ.get("TESSERA_FUZZ_RUN_SECONDS", "60"))
MEMORY_GROWTH_BYTES = 2 << 30
LONG = os.environ.get("TESSERA_FUZZ") == "long"
"""``TESSERA_FUZZ=long``: the longer profile (random examples, 10x as many)."""


def examples(ci: int) -> int:
    """``ci`` examples in CI (derandomised by the suite's Hypothesis profile), 10x by hand."""
    return ci * 10 if LONG else ci


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


ODD_VALUES: tuple[object, ...] = (
    None,
    -1,
    0,
    -(2**63),
    2**63,
    10**30,
    1e300,
    -1e300,
    float("nan"),
    float("inf"),
    "",
    "nan",
    "-5",
    "1e300",
    "abc",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "\x00",
    True,
    [],
    {},
    [1, "two"],
    {"unexpected": {"nested": 1}},
    _deep(120),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a parsed document (mapping keys and list indices)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


def _apply(root: Any, path: tuple[Any, ...], action: str, value: object) -> Any:
    if not path:
        return value if action == "set" else root
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    else:
        parent[last] = copy.deepcopy(value)
    return root


@st.composite
def mutate(draw: st.DrawFn, document: Any, max_changes: int = 3) -> Any:
    """``document`` with 1..``max_changes`` values replaced, deleted or duplicated."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_changes))):
        candidates = list(paths(doc))[1:]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        action = draw(st.sampled_from(["set", "set", "set", "delete", "duplicate"]))
        value = draw(st.sampled_from(ODD_VALUES))
        doc = _apply(doc, path, action, value)
    return doc


class _Timeout(Exception):
    """The run took longer than :data:`RUN_SECONDS`."""


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise _Timeout(f"run longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _refuse_constant(text: str) -> None:
    raise ValueError(f"{text} in JSON output")


def check_outputs(directory: Path) -> None:
    """No NaN/Infinity in any JSON or CSV under ``directory``; no staging leftovers."""
    for path in directory.rglob("*"):
        assert not path.name.startswith("."), f"leftover staging file {path}"
        assert not path.name.endswith(".tmp"), f"leftover temporary file {path}"
        if not path.is_file():
            continue
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                json.loads(line, parse_constant=_refuse_constant)
        elif path.suffix == ".csv":
            for row in path.read_text(encoding="utf-8").splitlines()[1:]:
                for value in row.split(","):
                    try:
                        number = float(value)
                    except ValueError:
                        continue
                    assert math.isfinite(number), f"{path}: non-finite cell {value!r}"


def run_cli(args: list[str], out: Path | None = None) -> tuple[int, str]:
    """Run ``tessera ARGS`` and check the contract above; (exit code, stderr)."""
    before = _peak_rss()
    with _alarm(RUN_SECONDS):
        result = CliRunner().invoke(app, args)
    grown = _peak_rss() - before
    assert grown < MEMORY_GROWTH_BYTES, f"peak memory grew by {grown >> 20} MiB: {args}"
    stderr = result.stderr
    assert result.exit_code in (0, 2), (
        f"exit {result.exit_code} for {args}: {stderr.strip()[-500:]} {result.exception!r}"
    )
    assert "Traceback" not in stderr, stderr
    if result.exit_code == 2:
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, f"expected one error line for {args}: {stderr!r}"
    if out is not None and out.exists():
        check_outputs(out)
        if result.exit_code != 0:
            assert not any(out.iterdir()), f"a failed run left files in {out}"
    return result.exit_code, stderr
