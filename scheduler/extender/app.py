"""The ASGI app of ``tessera serve``: the extender verbs and the health endpoints.

Routes (Starlette; bodies encoded with orjson through :mod:`scheduler.extender.wire`):

* ``POST <prefix>/filter``, ``/prioritize``, ``/preempt``, ``/bind`` — the extender verbs
  (docs/extender.md), answered by :class:`~scheduler.extender.backend.Decisions` and
  :class:`~scheduler.extender.binding.Binder`;
* ``GET /healthz`` — 200 while the process serves; ``GET /readyz`` — 200 once the cluster
  state is loaded and the informers have synced, 503 before; ``GET /metrics`` — Prometheus.
  The same three are served on the health port (:func:`create_health_app`).

Error policy — a verb never answers 5xx, whatever it is sent:

========================  ============================  =====================================
problem                   filter / bind                 prioritize / preempt
========================  ============================  =====================================
body over the size cap    413                           413
not JSON, wrong types     400 with the message          400 with the message
decodable but invalid     200, message in ``Error``     200, empty answer (``[]`` / no node)
internal failure          200, message in ``Error``     200, empty answer
========================  ============================  =====================================

kube-scheduler counts every non-200 reply, and every ``Error``, as a failed call; an empty
prioritize answer adds no score, an empty preempt answer means no preemption.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from scheduler.api.meta import parse_timestamp
from scheduler.extender.backend import Decisions
from scheduler.extender.binding import Binder
from scheduler.extender.candidates import Candidates, RecentCandidates
from scheduler.extender.evictions import GangPreemptions
from scheduler.extender.metrics import CONTENT_TYPE, WebhookMetrics
from scheduler.extender.state import ClusterState
from scheduler.extender.wire import (
    ExtenderArgs,
    ExtenderBindingResult,
    ExtenderFilterResult,
    ExtenderPreemptionResult,
    HostPriorityList,
    InvalidPayloadError,
    MalformedPayloadError,
    WireModel,
    decode_binding_args,
    decode_extender_args,
    decode_preemption_args,
    encode,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "VERBS", "Webhook", "create_app", "create_health_app"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
"""Default request size cap: a full ``Nodes`` list of 5,000 nodes is about 15 MiB."""

VERBS = ("filter", "prioritize", "preempt", "bind")
SYNC_WAIT = 5.0
"""Seconds ``GET /sync`` holds a request before answering 503 (the prober retries)."""
_T = TypeVar("_T")
_ARGS_KEYS = frozenset({"Pod", "Nodes", "NodeNames"})
_STR = frozenset({str})
_JSON = "application/json"


@dataclass(slots=True)
class Webhook:
    """What the routes serve: the state, the verbs' implementations and the metrics."""

    state: ClusterState
    decisions: Decisions
    binder: Binder
    metrics: WebhookMetrics
    ready: Callable[[], bool]
    synced_to: Callable[[int, float], bool] | None = None
    """Block until the state has processed the API up to a resourceVersion, or a timeout
    (seconds); whether it has (``GET /sync``)."""
    preemptions: GangPreemptions | None = None
    """Gang preemption (``--preempt-gangs``): the filter that decides evictions awaits them."""


class _TooLarge(Exception):
    """The request body is over the cap."""


async def _body(request: Request, cap: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _json(payload: WireModel) -> Response:
    return Response(encode(payload), media_type=_JSON)


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=status)


async def _until_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _decode(decoder: Callable[[bytes], _T], body: bytes) -> _T:
    """``decoder(body)``; JSON nested beyond what the parser can follow is malformed too."""
    try:
        return decoder(body)
    except RecursionError:
        raise MalformedPayloadError("request", "JSON nested too deeply") from None


def _extender_args(body: bytes, recent: RecentCandidates) -> tuple[ExtenderArgs, Candidates]:
    """A filter/prioritize request, and its candidates. A body ending with a candidate
    list seen lately is decoded from its head alone (:meth:`RecentCandidates.match`). The
    usual node-cache form — exactly ``Pod`` (an object), ``NodeNames`` (strings) and a null
    or absent ``Nodes`` — is taken as is, without the per-element validation the general
    decoder does (same result, a fraction of the time for thousands of names); anything else
    goes through :func:`decode_extender_args`."""
    seen = recent.match(body)
    if seen is not None:
        args = ExtenderArgs.model_construct(pod=seen[0], nodes=None, node_names=seen[1].names)
        return args, seen[1]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if type(data) is dict and data.keys() <= _ARGS_KEYS:
        pod = data.get("Pod")
        names = data.get("NodeNames")
        if (
            type(pod) is dict
            and data.get("Nodes") is None
            and type(names) is list
            and set(map(type, names)) <= _STR
        ):
            candidates = recent.register(body, names)
            args = ExtenderArgs.model_construct(pod=pod, nodes=None, node_names=candidates.names)
            return args, candidates
    args = _decode(decode_extender_args, body)
    return args, Candidates(args.candidate_names())


def _prefixed(prefix: str, verb: str) -> str:
    base = "/" + prefix.strip("/") if prefix.strip("/") else ""
    return f"{base}/{verb}"


def create_app(
    webhook: Webhook, *, prefix: str = "/", max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Starlette:
    """The extender app: the verbs under ``prefix``, and the health endpoints."""
    decisions = webhook.decisions
    metrics = webhook.metrics
    recent = RecentCandidates()
    latency = {verb: metrics.request_seconds.labels(verb=verb) for verb in VERBS}
    counted = {
        (verb, outcome): metrics.requests.labels(verb=verb, outcome=outcome)
        for verb in VERBS
        for outcome in ("ok", "error", "bad_request", "too_large")
    }

    def finish(verb: str, outcome: str, start: float, response: Response) -> Response:
        latency[verb].observe(time.perf_counter() - start)
        counted[verb, outcome].inc()
        return response

    async def read(request: Request, verb: str, start: float) -> bytes | Response:
        try:
            return await _body(request, max_body_bytes)
        except _TooLarge:
            message = f"{verb}: request body over {max_body_bytes} bytes"
            return finish(verb, "too_large", start, _text(413, message))
        except ClientDisconnect:
            return finish(verb, "bad_request", start, _text(400, f"{verb}: client disconnected"))

    async def filter_verb(request: Request) -> Response:
        start = time.perf_counter()
        body = await read(request, "filter", start)
        if isinstance(body, Response):
            return body
        try:
            args, candidates = _extender_args(body, recent)
            reply, failed = decisions.filter_json(args, candidates)
        except MalformedPayloadError as err:
            return finish("filter", "bad_request", start, _text(400, str(err)))
        except InvalidPayloadError as err:
            return finish("filter", "error", start, _json(ExtenderFilterResult(error=str(err))))
        except Exception as err:
            log.exception("filter failed")
            problem = ExtenderFilterResult(error=f"tessera: internal error: {err}")
            return finish("filter", "error", start, _json(problem))
        if webhook.preemptions is not None:
            # evictions this filter decided: written (in worker threads) before it answers
            await webhook.preemptions.run_pending()
        outcome = "error" if failed else "ok"
        return finish("filter", outcome, start, Response(reply, media_type=_JSON))

    async def prioritize_verb(request: Request) -> Response:
        start = time.perf_counter()
        body = await read(request, "prioritize", start)
        if isinstance(body, Response):
            return body
        try:
            args, candidates = _extender_args(body, recent)
            reply = decisions.prioritize_json(args, candidates)
        except MalformedPayloadError as err:
            return finish("prioritize", "bad_request", start, _text(400, str(err)))
        except InvalidPayloadError:
            return finish("prioritize", "error", start, _json(HostPriorityList(())))
        except Exception:
            log.exception("prioritize failed")
            return finish("prioritize", "error", start, _json(HostPriorityList(())))
        return finish("prioritize", "ok", start, Response(reply, media_type=_JSON))

    async def preempt_verb(request: Request) -> Response:
        start = time.perf_counter()
        body = await read(request, "preempt", start)
        if isinstance(body, Response):
            return body
        empty = ExtenderPreemptionResult(node_name_to_meta_victims={})
        try:
            args = _decode(decode_preemption_args, body)
            result = decisions.preempt(args)
        except MalformedPayloadError as err:
            return finish("preempt", "bad_request", start, _text(400, str(err)))
        except InvalidPayloadError:
            return finish("preempt", "error", start, _json(empty))
        except Exception:
            log.exception("preempt failed")
            return finish("preempt", "error", start, _json(empty))
        return finish("preempt", "ok", start, _json(result))

    async def bind_verb(request: Request) -> Response:
        start = time.perf_counter()
        body = await read(request, "bind", start)
        if isinstance(body, Response):
            return body
        try:
            args = _decode(decode_binding_args, body)
        except MalformedPayloadError as err:
            return finish("bind", "bad_request", start, _text(400, str(err)))
        except InvalidPayloadError as err:
            return finish("bind", "error", start, _json(ExtenderBindingResult(error=str(err))))
        try:
            error = await webhook.binder.bind(args, lambda: _until_disconnect(request))
        except Exception as err:
            log.exception("bind failed")
            error = f"tessera: internal error: {err}"
        reply = ExtenderBindingResult(error=error)
        return finish("bind", "error" if error else "ok", start, _json(reply))

    handlers: dict[str, Callable[[Request], Awaitable[Response]]] = {
        "filter": filter_verb,
        "prioritize": prioritize_verb,
        "preempt": preempt_verb,
        "bind": bind_verb,
    }
    routes = [Route(_prefixed(prefix, verb), handlers[verb], methods=["POST"]) for verb in VERBS]
    return Starlette(routes=[*routes, *_health_routes(webhook)])


def _health_routes(webhook: Webhook) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return _text(200, "ok")

    async def readyz(request: Request) -> Response:
        if webhook.ready():
            return _text(200, "ok")
        return _text(503, "not ready: cluster state not loaded or informers not synced")

    async def metrics(request: Request) -> Response:
        return Response(webhook.metrics.render(), media_type=CONTENT_TYPE)

    async def sync(request: Request) -> Response:
        # the simulator's sync probe (docs/extender.md, "What the webhook must do for a
        # replay"): 200 once every informer has processed the API up to ?resourceVersion=N;
        # &time=T (RFC 3339) is the replay's virtual time, the webhook's clock from now on
        text = request.query_params.get("resourceVersion", "")
        if not text:
            return await readyz(request)
        if not text.isdigit() or len(text) > 30:
            return _text(400, f"resourceVersion {text[:40]!r}: expected a decimal integer")
        wanted = int(text)
        told = request.query_params.get("time")
        if told is not None:
            try:
                webhook.state.clock.tell(parse_timestamp(told))
            except ValueError as err:
                return _text(400, f"time: {err}")
        synced_to = webhook.synced_to
        if synced_to is not None and await run_in_threadpool(synced_to, wanted, SYNC_WAIT):
            if webhook.preemptions is not None:
                # evictions the events up to there decided (failed attempts): written first
                await webhook.preemptions.run_pending()
            return _text(200, "ok")
        return _text(503, f"not synced to resourceVersion {wanted} yet")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/sync", sync, methods=["GET"]),
    ]


def create_health_app(webhook: Webhook) -> Starlette:
    """``/healthz``, ``/readyz`` and ``/metrics`` alone (the health port)."""
    return Starlette(routes=_health_routes(webhook))
