"""The ASGI application: URL routing, content negotiation, and Status errors.

Paths follow kube-apiserver's layout (``k8s.io/apiserver/pkg/endpoints/installer.go``):
``/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]`` and the same under
``/apis/{group}/{version}``, the deprecated ``/watch/`` prefix, and the discovery and
OpenAPI paths of :mod:`simulator.apiserver.discovery`.

Negotiation: ``Accept`` ranges are tried in order — a ``meta.k8s.io`` Table or
PartialObjectMetadata(List) when asked for, else JSON (``application/json``, ``*/*``, none)
or YAML; a client that accepts none of them (protobuf only) gets 406. Request bodies are
JSON or YAML (415 otherwise, 413 above 3 MiB as upstream's limit). Any :class:`ApiError`
becomes its Status; anything else is logged and answered 500 (a bug: the fuzz test holds
that none happens).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import request_response
from starlette.types import ASGIApp

from simulator.apiserver import bodies, discovery, listing, openapi_v2, status, tables, watch
from simulator.apiserver.cluster import ServedCluster
from simulator.apiserver.faults import PREFIX as FAULTS_PREFIX
from simulator.apiserver.faults import faults_from_env
from simulator.apiserver.handlers import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    Handlers,
)
from simulator.apiserver.options import (
    EXACT,
    ListOptions,
    encode_continue,
    parse_list_options,
    parse_resource_version,
)
from simulator.apiserver.resources import Resource
from simulator.apiserver.status import ApiError, bad_request
from simulator.apiserver.store import Entry, ListResult

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024
JSON = "application/json"
_YamlDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True, slots=True)
class Target:
    """What a request path names."""

    resource: Resource
    namespace: str
    name: str | None
    sub: str | None
    watch: bool


@dataclass(frozen=True, slots=True)
class Format:
    """The negotiated response representation: ``json``, ``yaml``, ``table`` or ``partial``."""

    kind: str
    include: str = "Metadata"


def _not_found() -> ApiError:
    return ApiError(
        404,
        "NotFound",
        "the server could not find the requested resource",
        details={
            "causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]
        },
    )


def negotiate(accept: str, query: Mapping[str, str], *, objects: bool) -> Format:
    """The representation to answer with (see the module docstring)."""
    include = query.get("includeObject") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise bad_request(f'includeObject: Unsupported value: "{include}"')
    if not accept.strip():
        return Format("json")
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        params = dict(p.partition("=")[::2] for p in pieces[1:] if "=" in p)
        as_kind = params.get("as")
        if as_kind is not None:
            if not objects or params.get("g") != "meta.k8s.io":
                continue
            if as_kind == "Table" and params.get("v") in ("v1", "v1beta1"):
                return Format("table", include)
            if as_kind in ("PartialObjectMetadata", "PartialObjectMetadataList") and params.get(
                "v"
            ) in ("v1", "v1beta1"):
                return Format("partial")
            continue
        if media in (JSON, "application/*", "*/*", "application/json-patch+json"):
            return Format("json")
        if media in ("application/yaml", "text/yaml"):
            return Format("yaml")
    raise status.not_acceptable(
        "only the following media types are accepted: application/json, application/yaml, "
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    )


def _encode(data: Any, fmt: Format, code: int = 200) -> Response:
    if fmt.kind == "yaml":
        text = yaml.dump(data, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True)
        return Response(text, code, media_type="application/yaml")
    return Response(orjson.dumps(data), code, media_type=JSON)


def _error_response(exc: ApiError) -> Response:
    return Response(orjson.dumps(exc.status()), exc.code, media_type=JSON)


class ApiApp:
    """Routes requests to discovery, the verbs and watch; see the module docstring."""

    def __init__(
        self,
        cluster: ServedCluster,
        *,
        address: str = "127.0.0.1",
        bookmark_interval: float = 60.0,
        rv_wait: float = 3.0,
    ) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.table = cluster.store.table
        self.handlers = Handlers(cluster)
        self.address = address
        self.bookmark_interval = bookmark_interval
        self.rv_wait = rv_wait
        self.faults = faults_from_env()
        """The test-only fault hook (:mod:`simulator.apiserver.faults`), None unless enabled."""
        self.asgi: ASGIApp = request_response(self.dispatch)
        """Every path and method goes to :meth:`dispatch` (no router: unknown methods get a
        405 Status like any other)."""

    # -- entry ----------------------------------------------------------------------------------
    async def dispatch(self, request: Request) -> Response:
        """Answer one request; every failure becomes a Status."""
        try:
            return await self._dispatch(request)
        except ApiError as exc:
            return _error_response(exc)
        except Exception:
            log.exception("internal error on %s %s", request.method, request.url.path)
            return _error_response(
                ApiError(500, "InternalError", "Internal error occurred: see the server log")
            )

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        segments = [s for s in path.split("/") if s]
        query = dict(request.query_params.items())
        accept = request.headers.get("accept", "")
        method = request.method
        if method == "HEAD":
            method = "GET"
        if not segments:
            return self._json(
                {"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz"]},
                method,
            )
        head = segments[0]
        if head == FAULTS_PREFIX and self.faults is not None:
            return self._faults(segments[1:], query, method)
        if head in ("healthz", "livez", "readyz") and len(segments) == 1:
            return (
                Response(b"ok", media_type="text/plain")
                if method == "GET"
                else _error_response(status.method_not_allowed())
            )
        if head == "version" and len(segments) == 1:
            return self._json(discovery.version_info(), method)
        if head == "openapi":
            return self._openapi(segments, method)
        if head == "api":
            if len(segments) == 1:
                if (v := discovery.wants_aggregated(accept)) is not None:
                    return self._aggregated(core=True, version=v, method=method)
                return self._json(discovery.api_versions(self.address), method)
            if segments[1] != "v1":
                raise _not_found()
            group, version, rest = "", "v1", segments[2:]
        elif head == "apis":
            if len(segments) == 1:
                if (v := discovery.wants_aggregated(accept)) is not None:
                    return self._aggregated(core=False, version=v, method=method)
                return self._json(discovery.api_group_list(self.table), method)
            group = segments[1]
            versions = self.table.group_versions().get(group)
            if versions is None:
                raise _not_found()
            if len(segments) == 2:
                return self._json(discovery.api_group(group, versions), method)
            version, rest = segments[2], segments[3:]
            if version not in versions:
                raise _not_found()
        else:
            raise _not_found()
        if not rest:
            return self._json(
                discovery.resource_list(self.table, group, version, self.cluster.writable), method
            )
        if (
            group == ""
            and len(rest) in (1, 3)
            and rest[-1] == "bindings"
            and (len(rest) == 1 or rest[0] == "namespaces")
        ):
            return await self._bindings(request, rest[1] if len(rest) == 3 else "", method)
        target = self._target(group, version, rest)
        return await self._resource(request, target, method, query, accept)

    def _faults(self, rest: list[str], query: Mapping[str, str], method: str) -> Response:
        """The fault hook's control endpoints (:mod:`simulator.apiserver.faults`)."""
        faults = self.faults
        assert faults is not None
        if rest == ["faults"] and method == "GET":
            return Response(orjson.dumps(faults.report()), media_type=JSON)
        if len(rest) != 2 or rest[0] != "faults" or method != "POST":
            raise _not_found()
        resource = query.get("resource") or None
        if resource is not None and resource not in {r.name for r in self.table.resources}:
            raise bad_request(f"resource {resource!r}: not served")
        if rest[1] == "drop-watches":
            mode = query.get("mode", "reset")
            if mode not in ("reset", "close"):
                raise bad_request(f"mode {mode!r}: expected reset or close")
            before = faults.report()["open_watches"]
            faults.drop(resource, mode)
            self.store.wake_watchers()
            count = sum(n for name, n in before.items() if resource in (None, name))
            return Response(orjson.dumps({"dropped": count}), media_type=JSON)
        if rest[1] == "expire":
            faults.expire(resource)
            return Response(orjson.dumps({"armed": resource or "all"}), media_type=JSON)
        raise _not_found()

    # -- discovery helpers ----------------------------------------------------------------------
    @staticmethod
    def _json(data: Any, method: str) -> Response:
        if method != "GET":
            raise status.method_not_allowed()
        return Response(orjson.dumps(data), media_type=JSON)

    def _aggregated(self, *, core: bool, version: str, method: str) -> Response:
        if method != "GET":
            raise status.method_not_allowed()
        data = discovery.aggregated(
            self.table, core=core, version=version, writable=self.cluster.writable
        )
        return Response(orjson.dumps(data), media_type=discovery.AGGREGATED_TYPE.format(v=version))

    def _openapi(self, segments: list[str], method: str) -> Response:
        if segments[1:] == ["v2"]:
            if method != "GET":
                raise status.method_not_allowed()
            return Response(
                openapi_v2.openapi_v2_document(self.table), media_type=openapi_v2.PROTOBUF_TYPE
            )
        if len(segments) < 2 or segments[1] != "v3":
            raise _not_found()
        if len(segments) == 2:
            return self._json(discovery.openapi_index(self.table), method)
        rest = segments[2:]
        if rest[0] == "api" and rest[1:] == ["v1"]:
            return self._json(discovery.openapi_gv_document(self.table, "", "v1"), method)
        if (
            rest[0] == "apis"
            and len(rest) == 3
            and rest[2] in self.table.group_versions().get(rest[1], [])
        ):
            return self._json(discovery.openapi_gv_document(self.table, rest[1], rest[2]), method)
        raise _not_found()

    # -- routing --------------------------------------------------------------------------------
    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        is_watch = False
        if rest[0] == "watch":
            is_watch, rest = True, rest[1:]
            if not rest:
                raise _not_found()
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        resource = self.table.find(group, version, rest[0])
        if resource is None or len(rest) > 3:
            raise _not_found()
        if namespace and not resource.namespaced:
            raise _not_found()
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and resource.subresource(sub) is None:
            raise _not_found()
        if is_watch and sub is not None:
            raise _not_found()
        return Target(resource, namespace, name, sub, is_watch)

    async def _body(self, request: Request, *, allow_empty: bool = False) -> Any:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ApiError(
                413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}"
            )
        if not raw.strip():
            if allow_empty:
                return None
            raise bad_request("the request body is empty")
        content_type = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
        if content_type in (JSON, MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH, "", "*/*"):
            return bodies.decode_json(raw)
        if content_type in ("application/yaml", "text/yaml"):
            return bodies.decode_yaml(raw)
        raise status.unsupported_media_type(content_type)

    @staticmethod
    def _check_write_query(query: Mapping[str, str]) -> None:
        if "dryRun" in query:
            raise bad_request("dryRun is not supported by this server (tessera's API facade)")
        fv = query.get("fieldValidation")
        if fv not in (None, "", "Ignore", "Warn", "Strict"):
            raise bad_request(
                f'fieldValidation: Unsupported value: "{fv}": supported values: '
                '"Ignore", "Strict", "Warn"'
            )

    async def _bindings(self, request: Request, namespace: str, method: str) -> Response:
        if method != "POST" or not namespace:
            raise status.method_not_allowed()
        self._check_write_query(request.query_params)
        body = await self._body(request)
        pods = self.cluster.resource("pods")
        result = await self._bind(pods, namespace, None, body)
        return Response(orjson.dumps(result), 201, media_type=JSON)

    async def _bind(self, pods: Resource, namespace: str, name: str | None, body: Any) -> Any:
        """``Handlers.bind`` in a worker thread, recorded by the fault hook when enabled."""
        try:
            result = await run_in_threadpool(self.handlers.bind, pods, namespace, name, body)
        except ApiError as exc:
            if self.faults is not None:
                self.faults.binding(namespace, body, name, exc.code)
            raise
        if self.faults is not None:
            self.faults.binding(namespace, body, name, 201)
        return result

    async def _resource(
        self, request: Request, t: Target, method: str, query: dict[str, str], accept: str
    ) -> Response:
        r = t.resource
        if r.namespaced and not t.namespace and (t.name is not None or method not in ("GET",)):
            if method == "GET" and t.name is not None:
                raise _not_found()
            if method != "GET":
                raise status.method_not_allowed()
        if t.watch or (
            method == "GET" and t.name is None and query.get("watch") in ("true", "1", "True")
        ):
            if method != "GET" or (t.name is not None and t.watch is False):
                raise status.method_not_allowed()
            fmt = negotiate(accept, query, objects=True)
            return await self._watch(t, query, fmt)
        if method == "GET":
            fmt = negotiate(accept, query, objects=True)
            if t.name is None:
                return await run_in_threadpool(self._list, t, query, fmt)
            if t.sub == "binding":
                raise status.method_not_allowed()
            await self._wait_for_rv(query.get("resourceVersion"))
            entry = await run_in_threadpool(self.handlers.get, r, t.namespace, t.name)
            return self._object(r, entry, fmt)
        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            raise status.method_not_allowed()
        fmt = negotiate(accept, query, objects=False)
        self._check_write_query(query)
        if method == "POST":
            if t.sub == "binding" and t.name is not None:
                body = await self._body(request)
                result = await self._bind(r, t.namespace, t.name, body)
                return _encode(result, fmt, 201)
            if t.name is not None:
                raise status.method_not_allowed()
            body = await self._body(request)
            entry = await run_in_threadpool(self.handlers.create, r, t.namespace, body)
            return self._object(r, entry, fmt, 201)
        if t.sub not in (None, "status"):
            raise status.method_not_allowed()
        if method == "PUT":
            if t.name is None:
                raise status.method_not_allowed()
            body = await self._body(request)
            entry = await run_in_threadpool(
                self.handlers.update, r, t.namespace, t.name, body, t.sub
            )
            return self._object(r, entry, fmt)
        if method == "PATCH":
            if t.name is None:
                raise status.method_not_allowed()
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in (MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH):
                raise status.unsupported_media_type(content_type)
            body = await self._body(request)
            entry = await run_in_threadpool(
                self.handlers.patch, r, t.namespace, t.name, body, content_type, t.sub
            )
            return self._object(r, entry, fmt)
        # DELETE
        if t.sub is not None:
            raise status.method_not_allowed()
        options = await self._body(request, allow_empty=True)
        if t.name is None:
            opts = parse_list_options(query, r)
            listed = await run_in_threadpool(
                self.store.list_page, r, t.namespace, accept=watch.matcher(opts, t.namespace)
            )
            gone = await run_in_threadpool(
                self.handlers.delete_collection, r, t.namespace, listed.entries
            )
            return self._list_response(r, ListResult(gone, self.store.rv, None, 0), fmt)
        entry = await run_in_threadpool(self.handlers.delete, r, t.namespace, t.name, options)
        return self._object(r, entry, fmt)

    # -- objects and lists ----------------------------------------------------------------------
    def _object(self, r: Resource, entry: Entry, fmt: Format, code: int = 200) -> Response:
        if fmt.kind == "table":
            return _encode(
                tables.table(
                    r,
                    [entry.obj()],
                    include=fmt.include,
                    list_meta={"resourceVersion": str(entry.rv)},
                ),
                fmt,
                code,
            )
        if fmt.kind == "partial":
            return _encode(tables.partial_metadata(entry.obj()), fmt, code)
        if fmt.kind == "yaml":
            return _encode(entry.obj(), fmt, code)
        return Response(entry.raw, code, media_type=JSON)

    async def _wait_for_rv(self, rv: str | None) -> None:
        """A requested version newer than the store's: wait up to ``rv_wait`` for it, then
        answer 504 as upstream's watch cache does (``waitUntilFreshAndBlock``)."""
        wanted = parse_resource_version(rv)
        if wanted is None:
            return
        deadline = asyncio.get_running_loop().time() + self.rv_wait
        while self.store.rv < wanted:
            if asyncio.get_running_loop().time() >= deadline:
                raise status.too_large_resource_version(wanted, self.store.rv)
            await asyncio.sleep(0.05)

    def _list(self, t: Target, query: dict[str, str], fmt: Format) -> Response:
        if self.faults is not None:
            self.faults.listed(t.resource.name)
        opts = parse_list_options(query, t.resource)
        at = self._list_version(opts)
        try:
            result = self.store.list_page(
                t.resource,
                t.namespace,
                at=at,
                after=opts.start_after,
                limit=opts.limit,
                accept=watch.matcher(opts, t.namespace),
            )
        except ApiError as exc:
            if opts.start_rv is not None and exc.code == 410:
                raise self._expired_continue(t, opts) from None
            raise
        return self._list_response(t.resource, result, fmt)

    def _list_version(self, opts: ListOptions) -> int | None:
        if opts.start_rv is not None:
            return opts.start_rv
        wanted = opts.rv_number
        if wanted is None:
            return None
        if wanted > self.store.rv:
            deadline = time.monotonic() + self.rv_wait
            while self.store.rv < wanted and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.store.rv < wanted:
                raise status.too_large_resource_version(wanted, self.store.rv)
        if opts.match == EXACT:
            return wanted
        return None

    def _expired_continue(self, t: Target, opts: ListOptions) -> ApiError:
        token = None
        if opts.start_after is not None:
            token = encode_continue(self.store.rv, opts.start_after, t.resource)
        return status.expired(
            "The provided continue parameter is too old to display a consistent list result. "
            "You can start a new list without the continue parameter, or use the continue "
            "token in this response to retrieve the remainder of the results. Continuing with "
            "the provided token results in an inconsistent list - objects that were created, "
            "modified, or deleted between the time the first chunk was returned and now may "
            "show up in the list.",
            list_continue=token,
        )

    def _list_meta(self, r: Resource, result: ListResult) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(result.rv)}
        if result.next_key is not None:
            meta["continue"] = encode_continue(result.rv, result.next_key, r)
            meta["remainingItemCount"] = result.remaining
        return meta

    def _list_response(self, r: Resource, result: ListResult, fmt: Format) -> Response:
        meta = self._list_meta(r, result)
        if fmt.kind == "table":
            objects = [e.obj() for e in result.entries]
            return _encode(tables.table(r, objects, include=fmt.include, list_meta=meta), fmt)
        if fmt.kind == "partial":
            items = [tables.partial_metadata(e.obj()) for e in result.entries]
            return _encode(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": items,
                },
                fmt,
            )
        if fmt.kind == "yaml":
            return listing.yaml_list(r, meta, result.entries)
        return listing.json_list(r, meta, result.entries)

    # -- watch ----------------------------------------------------------------------------------
    async def _watch(self, t: Target, query: dict[str, str], fmt: Format) -> Response:
        if self.store.watches_closed:
            raise status.shutting_down()  # a stream opened now would outlive the server
        if t.name is not None:
            query = {
                **query,
                "fieldSelector": ",".join(
                    filter(None, [query.get("fieldSelector", ""), f"metadata.name={t.name}"])
                ),
            }
        opts = parse_list_options(query, t.resource)
        await self._wait_for_rv(opts.resource_version)
        r = t.resource
        if fmt.kind == "table":
            first = [True]

            def render(kind: str, entry: Entry) -> bytes:
                data = tables.table(r, [entry.obj()], include=fmt.include, headers=first[0])
                first[0] = False
                return watch.event_line(kind, orjson.dumps(data))
        elif fmt.kind == "partial":

            def render(kind: str, entry: Entry) -> bytes:
                return watch.event_line(kind, orjson.dumps(tables.partial_metadata(entry.obj())))
        else:

            def render(kind: str, entry: Entry) -> bytes:
                return watch.event_line(kind, entry.raw)

        body: AsyncIterator[bytes] = watch.stream(
            self.store,
            r,
            t.namespace,
            opts,
            render,
            bookmark_interval=self.bookmark_interval,
            faults=self.faults,
        )
        return StreamingResponse(
            body, media_type=JSON, headers={"Cache-Control": "no-cache, private"}
        )
