"""Fixtures of the extender tests: one scripted extender server per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.extender.scripted_server import ExtenderServer, start_server


@pytest.fixture(scope="module")
def _module_server() -> Iterator[ExtenderServer]:
    server = ExtenderServer()
    stop = start_server(server)
    yield server
    stop()


@pytest.fixture
def server(_module_server: ExtenderServer) -> ExtenderServer:
    """The module's extender server, with no scripts and no recorded requests."""
    _module_server.scripts.clear()
    _module_server.requests.clear()
    return _module_server
