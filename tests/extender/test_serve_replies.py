"""The byte-built filter/prioritize replies equal encoding the wire models; a known
candidate list in a body's tail is decoded as decoding the whole body would."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from scheduler.extender import replies
from scheduler.extender.candidates import Candidates, RecentCandidates
from scheduler.extender.wire import ExtenderFilterResult, encode

NAMES = ["n-b", "n-a", 'we"ird\\é', "n-c", "ü-node", "n-0"]
MESSAGES = ["Insufficient cpu", 'node(s) had "taint"', "no GPU <&>"]
UNRESOLVABLE = [False, True, False]


@pytest.mark.parametrize("seed", range(40))
def test_filter_json_equals_the_encoded_model(seed: int) -> None:
    rng = np.random.default_rng(seed)
    candidates = Candidates(NAMES)
    verdict = rng.integers(-2, len(MESSAGES), len(NAMES)).astype(np.int32)
    if seed == 0:
        verdict[:] = replies.PASSED
    failed: dict[str, str] = {}
    unresolvable: dict[str, str] = {}
    for name, v in zip(NAMES, verdict.tolist(), strict=True):
        if v == replies.UNKNOWN:
            failed[name] = "unknown"
        elif v >= 0:
            (unresolvable if UNRESOLVABLE[v] else failed)[name] = MESSAGES[v]
    kept = tuple(n for n, v in zip(NAMES, verdict.tolist(), strict=True) if v == -1)
    model = ExtenderFilterResult.model_construct(
        nodes=None,
        node_names=kept,
        failed_nodes=failed,
        failed_and_unresolvable_nodes=unresolvable,
        error="",
    )
    body, counts = replies.filter_json(candidates, verdict, MESSAGES, UNRESOLVABLE, "unknown")
    assert body == encode(model)
    assert counts == (len(kept), len(failed), len(unresolvable))


@pytest.mark.parametrize("seed", range(20))
def test_priorities_json_equals_orjson(seed: int) -> None:
    scores = np.random.default_rng(seed).integers(0, 11, len(NAMES)).astype(np.int64)
    expected = [{"Host": n, "Score": s} for n, s in zip(NAMES, scores.tolist(), strict=True) if s]
    assert replies.priorities_json(Candidates(NAMES), scores) == orjson.dumps(expected)


def test_a_known_tail_decodes_like_the_whole_body() -> None:
    recent = RecentCandidates()
    pod = {"metadata": {"name": "p", "annotations": {"x": ',"NodeNames":["n-a"]}'}}}
    body = orjson.dumps({"Pod": pod, "Nodes": None, "NodeNames": NAMES})
    assert recent.match(body) is None
    registered = recent.register(body, NAMES)
    other = {"metadata": {"name": "q"}}
    found = recent.match(orjson.dumps({"Pod": other, "Nodes": None, "NodeNames": NAMES}))
    assert found is not None and found[0] == other and found[1] is registered
    # heads the fast form does not take: decoded in full instead
    for head in (b'{"Pod":"x"', b'{"pod":{}', b'{"Pod":{},"Nodes":{}', b"{"):
        assert recent.match(head + b',"NodeNames":' + registered.raw + b"}") is None
    assert recent.match(b"[" + b',"NodeNames":' + registered.raw + b"}") is None
