"""Running the API: uvicorn on a socket bound to loopback, in the foreground or a thread.

:func:`build_server` wires a :class:`ServedCluster` into the ASGI app; :class:`ApiServer`
binds the socket first (so the port is known before serving, ``port=0`` picks a free one)
and runs uvicorn either in a background thread (:meth:`ApiServer.start`, for tests, the
in-process scheduler and live replays) or in the calling thread (:meth:`ApiServer.run`, for
``tessera cluster serve``). Access logs are off; errors go to the ``simulator.apiserver``
loggers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from simulator.apiserver.app import ApiApp
from simulator.apiserver.cluster import ServedCluster
from simulator.apiserver.kubeconfig import write_kubeconfig
from simulator.apiserver.store import Store

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class ListenError(ValueError):
    """The address cannot be listened on (port taken, address not local): bad input."""


class _Server(uvicorn.Server):
    """uvicorn's server, ending the watch streams first when a signal stops it (Ctrl-C,
    SIGTERM): otherwise uvicorn cancels them after its graceful-shutdown timeout and logs a
    traceback for each."""

    def __init__(self, config: uvicorn.Config, store: Store) -> None:
        super().__init__(config)
        self._store = store

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Close the watches, then uvicorn's own exit."""
        self._store.close_watches()
        super().handle_exit(sig, frame)


class ApiServer:
    """One served API endpoint (see the module docstring)."""

    def __init__(
        self,
        cluster: ServedCluster,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        bookmark_interval: float = 60.0,
        rv_wait: float = 3.0,
        wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        """Bind the socket (:class:`ListenError` naming the address when it cannot) and build
        the app;
        ``wrap`` puts an ASGI middleware around it (the benchmark's timing probe)."""
        self.cluster = cluster
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
        # socket's proto says TCP (base_events._set_nodelay). Without it every response whose
        # headers and body go out in two writes waits for the client's delayed ACK (~40 ms).
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.url = f"http://{address}"
        self._store = cluster.store
        self.app = ApiApp(
            cluster, address=address, bookmark_interval=bookmark_interval, rv_wait=rv_wait
        )
        config = uvicorn.Config(
            self.app.asgi if wrap is None else wrap(self.app.asgi),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            # h11 answers every malformed request through the app's Status errors; httptools,
            # picked automatically when installed, answers some itself in plain text
            http="h11",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        self._server = _Server(config, self._store)
        self._thread: threading.Thread | None = None

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write a kubeconfig pointing at this server."""
        return write_kubeconfig(path, self.url)

    def run(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C) or :meth:`stop`."""
        self._store.open_watches()
        self._socket.listen(2048)
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 10.0) -> ApiServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self._store.open_watches()
        self._socket.listen(2048)

        def serve() -> None:
            asyncio.run(self._server.serve(sockets=[self._socket]))

        self._thread = threading.Thread(target=serve, name=f"tessera-api-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"API server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (open watches end first, cleanly) and wait for the thread."""
        self._store.close_watches()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
