"""A scriptable extender: a real HTTP server (Starlette under uvicorn, 127.0.0.1, free port).

Tests say what each path answers (``server.reply("/ext/filter", body=...)``: a JSON-able
value or raw bytes, a status, a delay, or a function of the request body — which may be a
coroutine function, to hold a reply until something else happens) and read back what
kube-scheduler's side sent (``server.requests``). POST and GET are served (a GET's body is
``None`` and its query is recorded). ``conftest.py`` runs one per test module.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    path: str
    content_type: str
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)


@dataclass
class _Script:
    status: int = 200
    body: Any = None
    delay: float = 0.0
    handler: Callable[[Any], Any] | None = None


@dataclass
class ExtenderServer:
    """The running server: its base URL, the scripted replies, the recorded requests."""

    url: str = ""
    scripts: dict[str, _Script] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def reply(
        self,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        delay: float = 0.0,
        handler: Callable[[Any], Any] | None = None,
    ) -> None:
        """Script ``path``: answer ``body`` (JSON-encoded unless bytes) or ``handler(request
        JSON)``, with ``status``, after ``delay`` seconds."""
        self.scripts[path] = _Script(status, body, delay, handler)

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r.path for r in self.requests]

    def last(self, path: str) -> Recorded:
        """The last request to ``path``."""
        return [r for r in self.requests if r.path == path][-1]

    async def _serve(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        query = dict(request.query_params)
        self.requests.append(Recorded(path, request.headers.get("content-type", ""), body, query))
        script = self.scripts.get(path)
        if script is None:
            return Response(b"no script", status_code=404)
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.handler is not None:
            answer = script.handler(orjson.loads(body) if body else None)
            if inspect.isawaitable(answer):
                answer = await answer
        else:
            answer = script.body
        content = answer if isinstance(answer, bytes) else orjson.dumps(answer)
        return Response(content, status_code=script.status, media_type="application/json")


def start_server(
    server: ExtenderServer, *, ssl_certfile: str | None = None, ssl_keyfile: str | None = None
) -> Callable[[], None]:
    """Run ``server`` in a thread; return the function that stops it."""
    app = Starlette(routes=[Route("/{path:path}", server._serve, methods=["POST", "GET"])])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        timeout_graceful_shutdown=1,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test extender server did not start")
        time.sleep(0.01)
    port = uv.servers[0].sockets[0].getsockname()[1]
    scheme = "https" if ssl_certfile else "http"
    server.url = f"{scheme}://127.0.0.1:{port}"

    def stop() -> None:
        uv.should_exit = True
        thread.join(timeout=10)

    return stop
