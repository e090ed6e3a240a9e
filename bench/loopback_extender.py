"""A minimal loopback scheduler extender for benchmarks (run as its own process).

It answers kube-scheduler's four verbs under ``/ext`` as cheaply as an extender can, so that
what a benchmark measures is the simulator's side of the protocol: ``filter`` keeps every
candidate (``NodeNames`` or ``Nodes`` as sent), ``prioritize`` scores every node 0,
``preempt`` accepts the candidates as offered, ``bind`` answers success without creating a
Binding, and ``GET /ext/sync`` answers 200 at once (a sync probe of a webhook that is always
current). Starlette on uvicorn, orjson, 127.0.0.1 only.

Run: ``python bench/loopback_extender.py PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def _json(value: Any) -> Response:
    return Response(orjson.dumps(value), media_type="application/json")


async def filter_(request: Request) -> Response:
    args = orjson.loads(await request.body())
    return _json(
        {
            "Nodes": args["Nodes"],
            "NodeNames": args["NodeNames"],
            "FailedNodes": None,
            "FailedAndUnresolvableNodes": None,
            "Error": "",
        }
    )


async def prioritize(request: Request) -> Response:
    args = orjson.loads(await request.body())
    names = args["NodeNames"] or [n["metadata"]["name"] for n in args["Nodes"]["items"]]
    return _json([{"Host": name, "Score": 0} for name in names])


async def preempt(request: Request) -> Response:
    args = orjson.loads(await request.body())
    meta = args["NodeNameToMetaVictims"]
    if meta is None:
        meta = {
            node: {
                "Pods": [{"UID": p["metadata"]["uid"]} for p in victims["Pods"]],
                "NumPDBViolations": victims["NumPDBViolations"],
            }
            for node, victims in (args["NodeNameToVictims"] or {}).items()
        }
    return _json({"NodeNameToMetaVictims": meta})


async def bind(request: Request) -> Response:
    await request.body()
    return _json({"Error": ""})


async def sync(_request: Request) -> Response:
    return _json({})


APP = Starlette(
    routes=[
        Route("/ext/filter", filter_, methods=["POST"]),
        Route("/ext/prioritize", prioritize, methods=["POST"]),
        Route("/ext/preempt", preempt, methods=["POST"]),
        Route("/ext/bind", bind, methods=["POST"]),
        Route("/ext/sync", sync, methods=["GET"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(APP, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
