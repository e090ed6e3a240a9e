"""List responses as a join of the stored bytes: no object is parsed or re-serialized.

The app calls :func:`json_list` or :func:`yaml_list` with a page of store entries; the
answer is a :class:`JoinedResponse` whose length is known up front (a ``Content-Length``
response, no chunked framing) and whose body is sent in parts of about :data:`PART_BYTES`,
each one ``bytes.join`` of consecutive entries' serialized JSON. Listing the ResourceSlices of
5,000 8×H100 dynamic-MIG nodes (1.1 GB) is therefore a sequence of memory copies
(bench/bench_apiserver.py measures it).

YAML lists are block YAML around the items, each item in JSON flow style — valid YAML (a
JSON text is a YAML flow node) that any YAML parser reads as the same objects; single
objects and Tables are dumped as block YAML by PyYAML instead.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import yaml
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from simulator.apiserver.resources import Resource
from simulator.apiserver.store import Entry

PART_BYTES = 512 * 1024
"""Target size of one body part handed to the server: large enough that the per-send
overhead vanishes, small enough that a part mostly fits the socket's send buffer (what does
not is copied into the transport's buffer) and its allocation is reused (measured on the
1.1 GB slice list: 0.5 MiB and 1 MiB parts 0.45-0.5 s, 4 MiB 0.6 s, 16 MiB 1.2 s)."""

JSON = "application/json"
YAML = "application/yaml"
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class JoinedResponse(Response):
    """A response made of byte strings: ``head``, the ``items`` joined by ``sep``, ``tail``.

    The length is computed from the parts (a sum of lengths); the body is sent in parts of
    about :data:`PART_BYTES`, so memory beyond the stored bytes is one part at a time.
    """

    def __init__(
        self, head: bytes, items: Sequence[bytes], sep: bytes, tail: bytes, media_type: str
    ) -> None:
        self.head, self.items, self.sep, self.tail = head, items, sep, tail
        length = len(head) + len(tail) + sum(map(len, items)) + len(sep) * max(0, len(items) - 1)
        super().__init__(None, 200, {"content-length": str(length)}, media_type)

    def parts(self) -> Iterator[bytes]:
        """The body, part by part: each part one ``join`` of the items whose cumulative size
        crosses the next multiple of :data:`PART_BYTES` (boundaries found by bisection in
        the running sum, so no Python work per item); after the first, a part starts with
        ``sep``."""
        yield self.head
        items, sep = self.items, self.sep
        ends = list(itertools.accumulate(map(len, items)))
        start = 0
        while start < len(items):
            end = bisect.bisect_left(ends, (ends[start - 1] if start else 0) + PART_BYTES) + 1
            group = list(items[start:end])
            if start:
                group.insert(0, b"")
            yield sep.join(group)
            start = end
        yield self.tail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the start line and headers, then every part (HEAD: headers only)."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") != "HEAD":
            for part in self.parts():
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def json_list(resource: Resource, meta: dict[str, Any], entries: Sequence[Entry]) -> JoinedResponse:
    """``{"kind": "<Kind>List", "apiVersion": ..., "metadata": meta, "items": [...]}``."""
    head = (
        b'{"kind":"'
        + resource.list_kind.encode()
        + b'","apiVersion":"'
        + resource.group_version.encode()
        + b'","metadata":'
        + orjson.dumps(meta)
        + b',"items":['
    )
    return JoinedResponse(head, [e.raw for e in entries], b",", b"]}", JSON)


def yaml_list(resource: Resource, meta: dict[str, Any], entries: Sequence[Entry]) -> JoinedResponse:
    """The same list as YAML: a block mapping whose ``items`` are JSON flow nodes."""
    envelope = {"apiVersion": resource.group_version, "kind": resource.list_kind, "metadata": meta}
    head = yaml.dump(envelope, Dumper=_Dumper, sort_keys=False).encode()
    if not entries:
        return JoinedResponse(head + b"items: []\n", [], b"", b"", YAML)
    return JoinedResponse(head + b"items:\n- ", [e.raw for e in entries], b"\n- ", b"\n", YAML)
