"""Names the API server and the controllers generate, made deterministic.

* ``metadata.generateName``: the API server appends five characters drawn from
  apimachinery's ``util/rand`` alphabet (``bcdfghjklmnpqrstvwxz2456789``: no vowels, no
  ``0 1 3``) to the base, cut to 58 characters (``storage/names/generate.go``), and retries a
  create whose generated name is taken up to 8 times (``registry/generic/registry/store.go``,
  ``maxNameGenerationCreateAttempts``). :class:`NameGenerator` draws the characters from a
  hash of a seed, the base and a counter instead of a random source, so that the same input
  gives the same names (replays must be byte-identical); names already taken are skipped
  exactly as a retry would.
* :func:`safe_encode`: apimachinery's ``rand.SafeEncodeString`` (each byte mapped onto the
  same alphabet), which the controllers use to turn a 32-bit hash into a name part
  (``pod-template-hash``, ``controller-revision-hash``).
* :func:`fnv32a`: the FNV-1a hash those controllers feed it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = [
    "ALPHANUMS",
    "GENERATED_SUFFIX_LENGTH",
    "MAX_GENERATED_BASE_LENGTH",
    "MAX_GENERATE_ATTEMPTS",
    "NameGenerator",
    "NameTakenError",
    "fnv32a",
    "safe_encode",
]

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX_LENGTH = 5
MAX_GENERATED_BASE_LENGTH = 63 - GENERATED_SUFFIX_LENGTH
MAX_GENERATE_ATTEMPTS = 8


class NameTakenError(ValueError):
    """Every generated name tried for a base was taken (the API server's conflict error)."""


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: every byte of ``text`` mapped onto :data:`ALPHANUMS`."""
    return "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in text.encode())


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash (Go's ``hash/fnv.New32a``)."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


class NameGenerator:
    """Deterministic ``generateName`` (see the module docstring).

    One generator serves one input (a trace or a dump): its ``seed`` should name that input,
    and each base gets its own sequence of candidates, so adding a pod of another workload
    does not rename the pods of this one.
    """

    def __init__(self, seed: str = "") -> None:
        self._seed = seed
        self._drawn: dict[str, int] = {}

    def _candidate(self, base: str) -> str:
        count = self._drawn.get(base, 0)
        self._drawn[base] = count + 1
        digest = hashlib.sha256(f"{self._seed}\0{base}\0{count}".encode()).digest()
        suffix = "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in digest[:GENERATED_SUFFIX_LENGTH])
        return base[:MAX_GENERATED_BASE_LENGTH] + suffix

    def generate(self, base: str, taken: Callable[[str], bool]) -> str:
        """A name for ``base`` that ``taken`` does not report as used.

        Raises :class:`NameTakenError` after :data:`MAX_GENERATE_ATTEMPTS` taken candidates,
        as the API server gives up after as many conflicting creates.
        """
        for _ in range(MAX_GENERATE_ATTEMPTS):
            name = self._candidate(base)
            if not taken(name):
                return name
        raise NameTakenError(
            f"metadata.generateName {base!r}: {MAX_GENERATE_ATTEMPTS} generated names were "
            "all taken"
        )
