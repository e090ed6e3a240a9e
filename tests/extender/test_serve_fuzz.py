"""Fuzzing tessera serve: 10,000+ random and malformed requests, no crash, no 5xx.

Requests go over HTTP from four client threads to the real command, ``tessera serve
--snapshot``, running as its own process. The generator (seeded)
mixes random bytes, random JSON, golden payloads with random mutations (keys dropped,
renamed to other cases, values replaced by random JSON, bytes truncated), and well-formed
requests about real and unknown pods and nodes (gang annotations with bad sizes, random
priorities and selectors). Every reply must be 200, 400, 404 or 413; every 200 must read back
with kube-scheduler's decoder for that verb; no reply may report an internal error (an
exception inside tessera); the server must still be healthy at the end, and its log free
of tracebacks. A hypothesis
test adds shrinkable structured cases.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import string
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.extender.wire import (
    decode_binding_result,
    decode_filter_result,
    decode_host_priority_list,
    decode_preemption_result,
)
from tests.extender.serve_harness import (
    GOLDEN,
    ROOT,
    claim_template,
    gpu_pod,
    pods_and_claims,
    small_spec,
    write_cluster,
    write_objects,
)

REQUESTS = 10_000
VERBS = ("filter", "prioritize", "preempt", "bind")
DECODERS: dict[str, Callable[[bytes], object]] = {
    "filter": decode_filter_result,
    "prioritize": decode_host_priority_list,
    "preempt": decode_preemption_result,
    "bind": decode_binding_result,
}
GOLDEN_ARGS = {
    "filter": ["filter_args_nodenames", "filter_args_nodes"],
    "prioritize": ["prioritize_args_nodenames"],
    "preempt": ["preempt_args_metavictims", "preempt_args_victims"],
    "bind": ["bind_args"],
}
NODES = [f"h100-{i:04d}" for i in range(3)] + ["system-0000"]
GANG = {"tessera.io/gang": "fz", "tessera.io/gang-size": "3"}
PODS = [
    gpu_pod("a"),
    gpu_pod("b", gpus=8),
    gpu_pod("c", gpus=0, priority=100),
    *(gpu_pod(f"fz-{i}", gpus=2, annotations=GANG) for i in range(3)),
    gpu_pod("run", gpus=4, node="h100-0002", priority=-5),
]
WEIGHTS = [30, 30, 20, 2, 2, 2, 14]
"""Lone pods mostly: a gang member's filter plans the gang and its preempt runs the
planner (a CP-SAT solve each), so they are a smaller share of a fast test."""


@dataclass
class Process:
    """``tessera serve`` running as its own process (the real CLI)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def connection(self) -> http.client.HTTPConnection:
        """A keep-alive connection to it."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    snapshot = directory / "snapshot"
    write_cluster(snapshot, small_spec(directory / "spec"))
    write_objects(snapshot, "work", [*pods_and_claims(PODS), claim_template("t")])
    port = _free_port()
    log = directory / "serve.log"
    command = [
        sys.executable,
        "-m",
        "simulator.cli",
        "serve",
        "--snapshot",
        str(snapshot),
        "--port",
        str(port),
        "--gang-hold-timeout",
        "0.2",
        "--max-body-bytes",
        "262144",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    running = Process(process, port, log)
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, log.read_text()
        try:
            connection = running.connection()
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "tessera serve did not get ready"
        time.sleep(0.2)
    yield running
    process.terminate()
    process.wait(20)


def _dumps(value: Any) -> bytes:
    """JSON text of any generated value (integers beyond 64 bits and lone surrogates
    included, which orjson refuses)."""
    return json.dumps(value).encode()


class Generator:
    """Seeded request generator (see the module docstring)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.golden = {
            verb: [orjson.loads((GOLDEN / f"{stem}.json").read_bytes()) for stem in stems]
            for verb, stems in GOLDEN_ARGS.items()
        }

    def text(self) -> str:
        alphabet = string.ascii_letters + string.digits + '-./ \u00e9\u4e2d\ud7ff\x00"\\'
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(0, 12)))

    def value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if depth > 3 or r < 0.3:
            return self.rng.choice(
                [
                    None,
                    True,
                    False,
                    0,
                    -1,
                    2**63,
                    -(2**63) - 1,
                    1.5,
                    1e308,
                    self.text(),
                    self.rng.randint(-1000, 1000),
                ]
            )
        if r < 0.6:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        keys = ["Pod", "NodeNames", "Nodes", "metadata", "spec", "UID", "Pods", self.text()]
        return {self.rng.choice(keys): self.value(depth + 1) for _ in range(self.rng.randint(0, 4))}

    def mutate(self, data: Any, depth: int = 0) -> Any:
        if isinstance(data, dict) and data and depth < 6:
            key = self.rng.choice(list(data))
            out = dict(data)
            action = self.rng.random()
            if action < 0.2:
                del out[key]
            elif action < 0.35:
                out[key.lower() if self.rng.random() < 0.5 else key.upper()] = out.pop(key)
            elif action < 0.55:
                out[key] = self.value()
            else:
                out[key] = self.mutate(out[key], depth + 1)
            return out
        if isinstance(data, list) and data and depth < 6:
            out_list = list(data)
            i = self.rng.randrange(len(out_list))
            if self.rng.random() < 0.3:
                del out_list[i]
            else:
                out_list[i] = self.mutate(out_list[i], depth + 1)
            return out_list
        return self.value()

    def pod(self) -> dict[str, Any]:
        ((pod, _),) = self.rng.choices(PODS, WEIGHTS)
        pod = orjson.loads(_dumps(pod))
        r = self.rng.random()
        if r < 0.15:
            pod["metadata"]["annotations"] = {
                "tessera.io/gang": self.text() or "g",
                "tessera.io/gang-size": self.rng.choice(["0", "-1", "x", "3", "100000", ""]),
            }
        elif r < 0.3:
            pod["spec"]["priority"] = self.rng.choice([None, 10**12, -(10**12), "high", 1.5])
        elif r < 0.4:
            pod["spec"]["nodeSelector"] = {self.text() or "k": self.text()}
        elif r < 0.5:
            pod["metadata"]["name"] = self.text()
        elif r < 0.6:
            pod = self.mutate(pod)
        return pod

    def names(self) -> list[str]:
        pool = [*NODES, "ghost", "", self.text()]
        return [self.rng.choice(pool) for _ in range(self.rng.randint(0, 40))]

    def request(self) -> tuple[str, bytes]:
        verb = self.rng.choice(VERBS)
        r = self.rng.random()
        if r < 0.1:
            return verb, bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 64)))
        if r < 0.2:
            return verb, _dumps(self.value())
        if r < 0.45:
            data = self.mutate(self.rng.choice(self.golden[verb]))
            raw = _dumps(data)
            if self.rng.random() < 0.15:
                raw = raw[: self.rng.randrange(len(raw) + 1)]
            return verb, raw
        pod = self.pod()
        if verb in ("filter", "prioritize"):
            names = self.names()
            if self.rng.random() < 0.2:
                items = [{"metadata": {"name": n}} for n in names]
                return verb, _dumps({"Pod": pod, "Nodes": {"items": items}, "NodeNames": None})
            return verb, _dumps({"Pod": pod, "Nodes": None, "NodeNames": names})
        if verb == "preempt":
            victims = {
                n: {"Pods": [{"UID": self.rng.choice(["uid-default-run", self.text()])}]}
                for n in self.names()[:5]
            }
            return verb, _dumps({"Pod": pod, "NodeNameToMetaVictims": victims})
        meta = pod.get("metadata") if isinstance(pod.get("metadata"), dict) else {}
        return verb, _dumps(
            {
                "PodName": meta.get("name") if isinstance(meta.get("name"), str) else self.text(),
                "PodNamespace": self.rng.choice(["default", self.text()]),
                "PodUID": self.rng.choice([meta.get("uid") or "", self.text()]),
                "Node": self.rng.choice(self.names() or ["h100-0000"]),
            }
        )


def _check(connection: http.client.HTTPConnection, verb: str, body: bytes) -> str:
    """Send one request; the problem found, or ""."""
    connection.request("POST", f"/{verb}", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    content = response.read()
    status = response.status
    if status >= 500 or status not in (200, 400, 404, 413):
        return f"status {status} for {verb} {body[:200]!r}: {content[:200]!r}"
    if status != 200:
        return ""
    try:
        DECODERS[verb](content)
    except ValueError as err:
        return f"undecodable {verb} reply {content[:200]!r}: {err}"
    if b"internal error" in content:
        return f"internal error for {verb} {body[:300]!r}: {content[:300]!r}"
    return ""


def test_ten_thousand_random_and_malformed_requests(served: Process) -> None:
    generators = [Generator(seed) for seed in range(4)]
    per_thread = REQUESTS // len(generators)

    def run(generator: Generator) -> tuple[list[str], Counter[str]]:
        problems: list[str] = []
        verbs: Counter[str] = Counter()
        connection = served.connection()
        for _ in range(per_thread):
            verb, body = generator.request()
            verbs[verb] += 1
            try:
                problem = _check(connection, verb, body)
            except (OSError, http.client.HTTPException) as err:
                problem = f"{verb}: {type(err).__name__}: {err} for {body[:200]!r}"
                connection.close()
                connection = served.connection()
            if problem:
                problems.append(problem)
        connection.close()
        return problems, verbs

    with ThreadPoolExecutor(len(generators)) as pool:
        results = list(pool.map(run, generators))
    problems = [p for found, _ in results for p in found]
    total: Counter[str] = Counter()
    for _, verbs in results:
        total.update(verbs)
    assert sum(total.values()) >= 10_000
    assert all(total[v] > 2_000 for v in VERBS)
    assert problems[:5] == []
    assert served.process.poll() is None
    connection = served.connection()
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 200
    log = served.log.read_text()
    assert "Traceback" not in log


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["Pod", "NodeNames", "Nodes", "PodName", "Node", "UID", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(verb=st.sampled_from(VERBS), payload=json_values)
def test_structured_random_json_never_fails_the_server(
    served: Process, verb: str, payload: Any
) -> None:
    connection = served.connection()
    try:
        assert _check(connection, verb, _dumps(payload)) == ""
    finally:
        connection.close()
