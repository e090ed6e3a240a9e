"""The extender's informers when the API facade's fault hook drops their watch streams
(``TESSERA_API_FAULTS``, :mod:`simulator.apiserver.faults`): the watch resumes after the
last event it delivered, and a resume answered 410 re-lists.

Uses the in-process facade and recording sink of ``test_informers.py``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.extender.test_informers import (  # noqa: F401 (fixtures)
    POD_SPEC,
    Api,
    Recorder,
    informers,
    make_api,
)


@pytest.fixture
def faulty_api(
    make_api: Callable[..., Api],  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Api:
    """The facade with its fault hook enabled."""
    monkeypatch.setenv("TESSERA_API_FAULTS", str(tmp_path / "faults"))
    return make_api()


def _fault(api: Api, action: str, **query: str) -> dict[str, Any]:
    reply = httpx.post(f"http://127.0.0.1:{api.port}/_tessera/faults/{action}", params=query)
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


def _watches_after(api: Api, count: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 10
    while len(api.gate.watches("pods")) <= count and time.monotonic() < deadline:
        time.sleep(0.02)
    return api.gate.watches("pods")


@pytest.mark.parametrize("mode", ["reset", "close"])
def test_dropped_watch_resumes_after_its_last_event(
    faulty_api: Api,
    informers: Any,  # noqa: F811 (the imported fixture)
    mode: str,
) -> None:
    """Events arrive on the pod watch, then the stream is cut (``reset``: mid-body, as a
    dropped connection; ``close``: cleanly, as a server timeout). The informer watches again
    from the last event's version — the server sends nothing twice, the sink applies
    nothing twice — and gets what was written meanwhile. No re-list."""
    api = faulty_api
    sink = Recorder()
    inf = informers(api, sink, ("Pod",))
    inf.start()
    assert inf.wait_synced(10)
    written = [api.create("Pod", f"d{i}", **POD_SPEC) for i in range(5)]
    assert sink.wait(lambda: len(sink.of("Pod", "apply")) == 5)
    before = len(api.gate.watches("pods"))
    assert _fault(api, "drop-watches", resource="pods", mode=mode)["dropped"] == 1
    written.append(api.create("Pod", "after", **POD_SPEC))
    resumed = _watches_after(api, before)[before]
    assert resumed["resourceVersion"] == str(written[4])
    assert sink.wait(lambda: len(sink.of("Pod", "apply")) >= 6)
    time.sleep(0.3)
    assert [c[4] for c in sink.of("Pod", "apply")] == [str(rv) for rv in written]
    assert len(api.gate.lists("pods")) == 1


def test_expired_resume_relists(
    faulty_api: Api,
    informers: Any,  # noqa: F811 (the imported fixture)
) -> None:
    """The stream drops and the resume is answered with a 410 ERROR event: the informer
    lists again and the sink gets the current set."""
    api = faulty_api
    sink = Recorder()
    inf = informers(api, sink, ("Pod", "Node"))
    inf.start()
    assert inf.wait_synced(10)
    api.create("Pod", "x0", **POD_SPEC)
    assert sink.wait(lambda: len(sink.of("Pod", "apply")) == 1)
    _fault(api, "expire", resource="pods")
    _fault(api, "drop-watches", resource="pods")
    api.create("Pod", "x1", **POD_SPEC)
    assert sink.wait(lambda: len(sink.of("Pod", "replace")) == 2)
    assert sink.state["Pod"] == api.stored("Pod")
    assert len(api.gate.lists("pods")) == 2
    assert len(api.gate.lists("nodes")) == 1  # the node watch was not touched
