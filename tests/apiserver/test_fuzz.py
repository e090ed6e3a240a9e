"""5,000 seeded malformed requests: every error is a Status (never a 5xx but upstream's 504 for
a too-large resourceVersion), and the server still serves afterwards.

The generator mixes the parts a client controls — method, path, query, Content-Type, Accept
and body — drawing each from known-valid pieces, near misses and garbage: invalid UTF-8
(percent-encoded in paths and queries, raw in bodies), huge bodies (just under and over the
3 MiB limit), deeply nested JSON and YAML, YAML aliases, non-JSON YAML values, selectors and
continue tokens built from their grammar's pieces, and objects of the served kinds with
fields of the wrong type.
"""

from __future__ import annotations

import base64
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote

import httpx
import orjson

from tests.apiserver.conftest import serve

SEED = 20260501
REQUESTS = 5000
BUDGET_SECONDS = 180.0
"""A runaway guard, not a speed test (about 10 s on a quiet 2-core machine; speed is
measured by bench/bench_apiserver.py)."""
RV_WAIT = 0.01
"""How long the fuzz server waits for a too-new resourceVersion before its 504 (3 s upstream;
a fuzz request has nothing to wait for)."""

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
RARE_METHODS = ["TRACE", "PROPFIND", "BREW", "get"]
PATHS = [
    "/",
    "/api",
    "/apis",
    "/version",
    "/healthz",
    "/openapi/v2",
    "/openapi/v3",
    "/openapi/v3/api/v1",
    "/openapi/v3/apis/resource.k8s.io/v1",
    "/api/v1",
    "/api/v1/nodes",
    "/api/v1/nodes/h100-0000",
    "/api/v1/nodes/h100-0000/status",
    "/api/v1/pods",
    "/api/v1/namespaces",
    "/api/v1/namespaces/default",
    "/api/v1/namespaces/default/status",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/pods/x",
    "/api/v1/namespaces/default/pods/x/binding",
    "/api/v1/namespaces/default/pods/x/status",
    "/api/v1/namespaces/default/bindings",
    "/api/v1/namespaces/default/events",
    "/api/v1/watch/pods",
    "/api/v1/watch/namespaces/default/pods/x",
    "/apis/resource.k8s.io/v1",
    "/apis/resource.k8s.io/v1/resourceslices",
    "/apis/resource.k8s.io/v1/deviceclasses",
    "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims",
    "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/c/status",
    "/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates",
    "/apis/scheduling.k8s.io/v1/priorityclasses",
    "/apis/leaderworkerset.x-k8s.io/v1/namespaces/default/leaderworkersets",
    "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/default/podgroups",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/batch/v1/namespaces/default/jobs",
]
WRITE_PATHS = {
    "POST": [
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces",
        "/api/v1/nodes",
        "/api/v1/namespaces/default/pods/x/binding",
        "/api/v1/namespaces/default/bindings",
        "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims",
        "/apis/apps/v1/namespaces/default/deployments",
    ],
    "PUT": [
        "/api/v1/namespaces/default/pods/x",
        "/api/v1/namespaces/default/pods/x/status",
        "/api/v1/nodes/h100-0000",
        "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/c/status",
    ],
    "PATCH": [
        "/api/v1/namespaces/default/pods/x",
        "/api/v1/nodes/h100-0000",
        "/api/v1/nodes/h100-0000/status",
        "/api/v1/namespaces/default",
    ],
}
SEGMENTS = [
    "api",
    "apis",
    "v1",
    "v2",
    "v1alpha1",
    "resource.k8s.io",
    "apps",
    "nope",
    "namespaces",
    "default",
    "kube-system",
    "pods",
    "nodes",
    "resourceslices",
    "resourceclaims",
    "status",
    "binding",
    "bindings",
    "finalize",
    "watch",
    "x",
    "h100-0000",
    "..",
    ".",
    "",
    "%00",
    "%ff",
    "%c3%28",
    "%e2%82",
    "%2F",
    "%25",
    "A%20B",
    "\u00e9",
    "\U0001f600",
]
PARAMS = [
    "labelSelector",
    "fieldSelector",
    "limit",
    "continue",
    "resourceVersion",
    "resourceVersionMatch",
    "watch",
    "timeoutSeconds",
    "allowWatchBookmarks",
    "sendInitialEvents",
    "includeObject",
    "dryRun",
    "fieldValidation",
    "fieldManager",
    "pretty",
    "propagationPolicy",
]
VALUES = [
    "",
    "0",
    "-1",
    "1",
    "2",
    "abc",
    "Exact",
    "NotOlderThan",
    "true",
    "false",
    "None",
    "Object",
    "Metadata",
    "Strict",
    "99999999999999999999",
    "9223372036854775807",
    "\\",
    "\u00e9\u00e9",
    "a b",
    "%ff%fe",
    "%00",
]
LABEL_PIECES = ["a", "b", "app", "x/y", "-bad", "a" * 70, "k8s.io/app", "é", "", " "]
LABEL_OPS = ["=", "==", "!=", " in ", " notin ", ">", "<", "", "!", "=="]
FIELD_NAMES = [
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "status.phase",
    "spec.driver",
    "source",
    "reason",
    "spec.bogus",
    "",
]
FIELD_OPS = ["=", "==", "!=", "", "=!"]
FIELD_VALUES = ["a", "h100-0000", "Running", "", "a\\,b", "a\\", "x\\y", "="]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/yaml",
    "text/yaml",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
    "application/vnd.kubernetes.protobuf",
    "text/plain",
    "*/*",
    "multipart/form-data; boundary=x",
    ";;;",
    "",
]
ACCEPTS = [
    "application/json",
    "application/json;as=Table;v=v1;g=meta.k8s.io",
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json",
    "application/json;as=Table;v=v9;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf, application/json;q=0.9",
    "application/yaml",
    "*/*",
    "text/html",
    "application/json;as",
    ";=;=,,",
    "",
]
KINDS = [
    ("v1", "Pod"),
    ("v1", "Node"),
    ("v1", "Namespace"),
    ("v1", "Binding"),
    ("resource.k8s.io/v1", "ResourceClaim"),
    ("resource.k8s.io/v1", "ResourceSlice"),
    ("resource.k8s.io/v1", "DeviceClass"),
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
    ("apps/v1", "Deployment"),
    ("v2", "Pod"),
    ("", ""),
]
MAX_BODY = 3 * 1024 * 1024


@dataclass(frozen=True)
class FuzzRequest:
    """One generated request; ``url`` is already percent-encoded."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def wants_too_new_rv(self) -> bool:
        """Whether the query asks for a resourceVersion (a uint64) far beyond anything the
        store holds."""
        query = self.url.partition("?")[2]
        values = [v for k, v in parse_qsl(query, errors="replace") if k == "resourceVersion"]
        return any(v.isdigit() and 10**6 <= int(v) < 2**64 for v in values)


class Fuzzer:
    """Seeded generator of malformed requests (see the module docstring)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def request(self) -> FuzzRequest:
        """The next request: a third have a well-formed envelope (a write to a served path
        with a matching Content-Type) so that their malformed bodies reach the decoder and
        the handlers; the rest mix every part at random."""
        rng = self.rng
        if rng.random() < 0.35:
            return self.write_request()
        method = rng.choice(RARE_METHODS) if rng.random() < 0.02 else rng.choice(METHODS)
        query = self.query()
        url = self.path() + ("?" + query if query else "")
        headers = {"Accept": rng.choice(ACCEPTS)}
        if rng.random() < 0.9:
            headers["Content-Type"] = rng.choice(CONTENT_TYPES)
        return FuzzRequest(method, url, headers, self.body())

    def write_request(self) -> FuzzRequest:
        rng = self.rng
        method = rng.choice(["POST", "PUT", "PATCH"])
        path = rng.choice(WRITE_PATHS[method])
        if method == "PATCH":
            content_type = rng.choice(CONTENT_TYPES[4:7])
        else:
            content_type = rng.choice(["application/json", "application/yaml"])
        body = self.yaml_body() if "yaml" in content_type and rng.random() < 0.5 else self.body()
        return FuzzRequest(
            method, path, {"Accept": "application/json", "Content-Type": content_type}, body
        )

    # -- paths and queries ---------------------------------------------------------------------
    def path(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            return rng.choice(PATHS)
        if roll < 0.9:
            segments = [self.segment() for _ in range(rng.randrange(1, 9))]
            return "/" + "/".join(segments) + ("/" if rng.random() < 0.1 else "")
        base = rng.choice(PATHS)
        return base + "/" + rng.choice(["x" * rng.choice([300, 5000]), "%ff" * 50, "a//b"])

    def segment(self) -> str:
        seg = self.rng.choice(SEGMENTS)
        return quote(seg, safe="%") if seg and not seg.isascii() else seg

    def query(self) -> str:
        rng = self.rng
        parts = []
        for _ in range(rng.randrange(5)):
            key = rng.choice(PARAMS) if rng.random() < 0.9 else self.junk(12)
            parts.append(f"{quote(key, safe='%')}={self.value(key)}")
        return "&".join(parts)

    def value(self, key: str) -> str:
        rng = self.rng
        roll = rng.random()
        if key == "labelSelector" and roll < 0.7:
            raw = self.label_selector()
        elif key == "fieldSelector" and roll < 0.7:
            raw = self.field_selector()
        elif key == "continue" and roll < 0.7:
            raw = self.continue_token()
        elif key in ("resourceVersion", "limit", "timeoutSeconds") and roll < 0.5:
            raw = str(rng.choice([0, 1, 5, 10**6, -3, 2**63, 2**64]))
        elif roll < 0.85:
            return quote(rng.choice(VALUES), safe="%")
        else:
            return self.junk(rng.choice([8, 200, 5000]))
        return quote(raw, safe="")

    def label_selector(self) -> str:
        rng = self.rng
        terms = []
        for _ in range(rng.randrange(1, 4)):
            key, op = rng.choice(LABEL_PIECES), rng.choice(LABEL_OPS)
            if op.strip() in ("in", "notin"):
                values = ",".join(rng.choice(LABEL_PIECES) for _ in range(rng.randrange(3)))
                terms.append(f"{key}{op}{rng.choice(['(', ''])}{values}{rng.choice([')', ''])}")
            elif op == "!":
                terms.append(f"!{key}")
            else:
                terms.append(f"{key}{op}{rng.choice([*LABEL_PIECES, '1', 'x1'])}")
        return rng.choice([",", ", ", ",,"]).join(terms)

    def field_selector(self) -> str:
        rng = self.rng
        terms = [
            rng.choice(FIELD_NAMES) + rng.choice(FIELD_OPS) + rng.choice(FIELD_VALUES)
            for _ in range(rng.randrange(1, 4))
        ]
        return ",".join(terms)

    def continue_token(self) -> str:
        rng = self.rng
        data = {
            "v": rng.choice(["meta.k8s.io/v1", "v2", 3]),
            "rv": rng.choice([1, 0, -1, "1", 2**63, 10**6, 1.5]),
            "start": rng.choice(["x\x00", "default/x\x00", "", "../etc", 5, "noslash\x00"]),
        }
        raw = orjson.dumps(data) if rng.random() < 0.8 else rng.randbytes(20)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=" if rng.random() < 0.7 else "")

    def junk(self, n: int) -> str:
        rng = self.rng
        raw = rng.randbytes(rng.randrange(1, n + 1))
        return quote(raw, safe="")

    # -- bodies --------------------------------------------------------------------------------
    def body(self) -> bytes:
        rng = self.rng
        choice = rng.randrange(16)
        if choice == 0:
            return rng.randbytes(rng.randrange(64))
        if choice == 1:
            return self.deep_json()
        if choice == 2:
            return self.json_patch()
        if choice == 3:
            return orjson.dumps(self.object())
        if choice == 4:
            return self.yaml_body()
        if choice == 5:
            return orjson.dumps(
                {
                    "metadata": {"name": "x", "resourceVersion": rng.choice(["1", "z", "", 7])},
                    "status": {"allocation": rng.choice([{}, 5, None]), "reservedFor": [{}] * 3},
                }
            )
        if choice == 6:
            return b""
        if choice == 7:
            return self.huge()
        if choice == 8:
            obj = orjson.dumps(self.object())
            i = rng.randrange(len(obj))
            return obj[:i] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00"]) + obj[i:]
        if choice == 9:
            return orjson.dumps(self.object())[: rng.randrange(1, 40)]
        if choice == 10:
            return rng.choice([b"18446744073709551616", b"1e400", b'"\\ud800"', b"-0", b"NaN"])
        if choice == 11:
            return orjson.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": rng.choice(["x", "", 3])},
                    "target": rng.choice(
                        [{"name": "h100-0000"}, {"name": 5}, {"kind": "Pod"}, "t", None]
                    ),
                }
            )
        return orjson.dumps(
            rng.choice(
                [
                    None,
                    1,
                    "s",
                    [],
                    {"$patch": "delete"},
                    {"metadata": {"$patch": "replace"}},
                    {"spec": {"$retainKeys": 5}},
                    {"spec": {"containers": [{"$patch": "delete"}]}},
                    {"metadata": {"finalizers": {"$deleteFromPrimitiveList": 1}}},
                ]
            )
        )

    def object(self) -> dict[str, object]:
        rng = self.rng
        api_version, kind = rng.choice(KINDS)
        weird: list[object] = [None, 3, "s", [1], {}, True, -1.5, "A B", "a" * 300]
        meta: dict[str, object] = {
            "name": rng.choice(["x", "y", "A B", "", "a" * 300, 3, None, "-x", "x.y"]),
        }
        if rng.random() < 0.5:
            meta["namespace"] = rng.choice(["default", "other", "", 5])
        if rng.random() < 0.3:
            meta["labels"] = rng.choice([{"a": "b"}, {"a": 1}, ["a"], "a=b", {"": ""}])
        if rng.random() < 0.2:
            meta["generateName"] = rng.choice(["gen-", "", 5, "Bad-"])
        if rng.random() < 0.2:
            meta["resourceVersion"] = rng.choice(["1", "x", 5, ""])
        obj: dict[str, object] = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": rng.choice([meta, meta, meta, None, "m", [meta]]),
        }
        if rng.random() < 0.8:
            obj["spec"] = rng.choice(
                [
                    {},
                    {"containers": rng.choice(weird)},
                    {"containers": [{"name": "c", "resources": rng.choice(weird)}]},
                    {"nodeName": rng.choice(weird)},
                    {"resourceClaims": [{"name": "r", "resourceClaimTemplateName": "t"}]},
                    {"devices": {"requests": rng.choice(weird)}},
                    {"driver": rng.choice(weird), "pool": rng.choice(weird)},
                    rng.choice(weird),
                ]
            )
        if rng.random() < 0.3:
            obj["status"] = rng.choice([*weird, {"phase": "Running"}])
        return obj

    def json_patch(self) -> bytes:
        rng = self.rng
        ops = [
            {
                "op": rng.choice(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
                "path": rng.choice(
                    ["/x", "", "~", "/metadata/-", "/metadata/labels/a~1b", "/spec/0", "/a/~2"]
                ),
                **rng.choice(
                    [{}, {"value": rng.choice([1, None, {}, "v"])}, {"from": rng.choice(["/x", 5])}]
                ),
            }
            for _ in range(rng.randrange(4))
        ]
        return orjson.dumps(rng.choice([ops, ops, {"op": "add"}, [1, 2]]))

    def deep_json(self) -> bytes:
        rng = self.rng
        depth = rng.choice([50, 500, 1100, 20_000])
        if rng.random() < 0.5:
            return b"[" * depth + b"]" * depth
        return b'{"metadata":{"name":"x"},"spec":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"

    def yaml_body(self) -> bytes:
        rng = self.rng
        return rng.choice(
            [
                b"- a\n- : b\n\t",
                b"[" * 5000,
                b"a: " + b"[" * 3000 + b"]" * 3000,
                b"apiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec: {priority: 1e999}\n",
                b"apiVersion: v1\nkind: Pod\nmetadata: {name: y, labels: {1: 2}}\n",
                b"metadata: {name: y}\nspec: {x: !!binary aGVsbG8=, d: 2001-12-14}\n",
                b"metadata: {name: y}\nspec: {x: 123456789012345678901234567890}\n",
                b"metadata: {name: y}\nspec: !!set {a, b}\n",
                b"metadata: {name: y}\nspec: {? [a, b] : c}\n",
                b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                + b"".join(
                    b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n"
                    % ((ord("a") + i + 1,) * 2 + (ord("a") + i,) * 10)
                    for i in range(8)
                )
                + b"metadata: {name: bomb}\nspec: *i\n",
                b"--- a\n--- b\n",
                b"\xff\xfe: x",
            ]
        )

    def huge(self) -> bytes:
        rng = self.rng
        size = rng.choice([MAX_BODY - 4096, MAX_BODY + 1])
        if rng.random() < 0.5:
            filler = "x" * (size - 100)
            return orjson.dumps(
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "h"}, "a": filler}
            )
        return b" " * size


SEED_OBJECTS = [
    (
        "/api/v1/namespaces/default/pods",
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
         "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    ),
    (
        "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims",
        {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "c"},
         "spec": {"devices": {"requests": [{"name": "r", "exactly": {
             "deviceClassName": "gpu.nvidia.com"}}]}}},
    ),
]  # fmt: skip
"""Objects the write paths name, so that updates and patches reach the handlers."""

MESSAGES = {
    "decode": "could not be decoded",
    "depth": "levels deep",
    "aliasing": "excessive aliasing",
    "yaml-to-json": "error converting YAML to JSON",
    "too-large": "Request entity too large",
    "field-selector": "field selector",
    "label-selector": "unable to parse requirement",
    "continue": "continue key is not valid",
    "resource-version": "invalid resource version",
}
"""Substrings of error messages the generator must provoke at least once (coverage)."""


def _status(response: httpx.Response) -> dict[str, object]:
    data = orjson.loads(response.read())
    assert isinstance(data, dict), data
    return data


def test_fuzz_5000_malformed_requests(tmp_path: Path) -> None:
    """5,000 seeded malformed requests in ≤ 30 s: no 5xx but the upstream 504 for a too-new
    resourceVersion, every error body a Status with the response's code, every targeted
    decoder and parser error reached, and the server answers a plain list afterwards."""
    s = serve(tmp_path, rv_wait=RV_WAIT)
    fuzzer = Fuzzer(random.Random(SEED))
    codes: Counter[int] = Counter()
    seen: set[str] = set()
    start = time.monotonic()
    try:
        with httpx.Client(base_url=s.server.url, timeout=10) as http:
            for path, obj in SEED_OBJECTS:
                assert http.post(path, json=obj).status_code == 201
            for _ in range(REQUESTS):
                req = fuzzer.request()
                with http.stream(
                    req.method, req.url, headers=req.headers, content=req.body
                ) as response:
                    code = response.status_code
                    codes[code] += 1
                    if code < 400 or req.method == "HEAD":
                        continue  # a watch stays open: the status line is what is checked
                    status = _status(response)
                assert status["kind"] == "Status" and status["code"] == code, (req, status)
                message = str(status["message"])
                seen.update(name for name, text in MESSAGES.items() if text in message)
                if code >= 500:
                    assert code == 504 and req.wants_too_new_rv, (req, status)
                    details = status["details"]
                    assert isinstance(details, dict)
                    assert details["causes"][0]["reason"] == "ResourceVersionTooLarge"
            assert http.get("/api/v1/nodes", params={"limit": "1"}).status_code == 200
    finally:
        s.server.stop()
    elapsed = time.monotonic() - start
    assert codes.total() == REQUESTS
    assert {200, 201, 400, 404, 405, 406, 409, 413, 415, 422, 504} <= set(codes), codes
    assert seen == set(MESSAGES), f"never provoked: {set(MESSAGES) - seen}"
    assert elapsed < BUDGET_SECONDS, f"{elapsed:.1f} s for {REQUESTS} requests; codes {codes}"
