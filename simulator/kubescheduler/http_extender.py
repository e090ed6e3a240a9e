"""kube-scheduler's HTTP client for one extender entry (``HTTPExtender``, 1.35).

Mirrors ``pkg/scheduler/extender.go`` in kubernetes/kubernetes: how each request is built
(``NodeNames`` or a full ``NodeList`` by ``nodeCacheCapable``, victims as UIDs or full pods),
how it is sent (``POST <urlPrefix>/<verb>``, ``Content-Type: application/json``, one client
timeout for the whole exchange), and how each reply is read, including every error kube-
scheduler raises (non-200, undecodable body, ``Error`` set, unknown node names or victim
UIDs). A failed call raises :class:`ExtenderError`; what kube-scheduler then does (skip an
ignorable extender, fail the cycle, ignore a prioritize failure) is the caller's business —
see :mod:`simulator.kubescheduler.extenders`.

Transport: one ``httpx.Client`` per extender entry, like Go's one ``http.Client`` per entry.
httpx rather than urllib because kube-scheduler's transport keeps connections alive and
reuses them (urllib opens a connection per request, which changes what the extender sees,
e.g. for many concurrently held bind calls) and because it is safe to share between the
threads that run concurrent calls. Settings follow Go's: no cap on concurrent connections,
two idle connections kept per host for 90 s, proxies from the environment except for loopback
hosts, TLS from ``enableHTTPS``/``tlsConfig`` as ``makeTransport`` builds it. Differences: HTTP/1.1
only (Go negotiates HTTP/2 over TLS); httpx adds its own ``User-Agent``/``Accept`` headers;
and the timeout is enforced per connect/write/read step plus a deadline check between body
chunks, so a server that trickles a reply can overrun the budget by at most one read wait
(Go's ``Client.Timeout`` is one hard deadline).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from scheduler.extender import wire
from scheduler.extender.config import ExtenderConfig, ExtenderTLSConfig

__all__ = [
    "ExtenderError",
    "FilterReply",
    "HTTPExtender",
    "PodsOnNode",
    "is_interested",
]

log = logging.getLogger(__name__)

PodsOnNode = Callable[[str], Sequence[wire.RawObject] | None]
"""The pods kube-scheduler's snapshot has on a node, or ``None`` if the node is unknown."""

_T = TypeVar("_T")


class ExtenderError(Exception):
    """A failed extender call, with the message kube-scheduler's error would carry."""

    def __init__(self, extender: str, verb: str, message: str) -> None:
        self.extender = extender
        self.verb = verb
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class FilterReply:
    """What ``HTTPExtender.Filter`` returns.

    ``nodes`` are the nodes that pass, in the extender's order: the caller's own objects when
    the reply used ``NodeNames``, the reply's objects when it used ``Nodes`` (1.34/1.35 wrap
    those in fresh, empty NodeInfos, so resource scoring then sees them idle; kubernetes
    issue 141781). ``failed``/``failed_unresolvable`` are the reply's maps (empty if null).
    """

    nodes: tuple[wire.RawObject, ...]
    failed: Mapping[str, str] = field(default_factory=dict)
    failed_unresolvable: Mapping[str, str] = field(default_factory=dict)
    from_reply_objects: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """``metadata.name`` of the passing nodes (``""`` for a returned node without one)."""
        return tuple(_name(n) for n in self.nodes)


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name", "") if isinstance(meta, Mapping) else ""
    return name if isinstance(name, str) else ""


def _uid(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    uid = meta.get("uid", "") if isinstance(meta, Mapping) else ""
    return uid if isinstance(uid, str) else ""


def is_interested(config: ExtenderConfig, pod: Mapping[str, Any]) -> bool:
    """``IsInterested``: is ``pod`` sent to this extender at all?

    True when ``managedResources`` is empty, or when any container or init container names
    one of them in ``resources.requests`` or ``resources.limits``. Nothing else counts: not
    resource claims (DRA), not pod-level resources, not ephemeral containers, not labels.
    """
    managed = config.managed_resource_names
    if not managed:
        return True
    spec = pod.get("spec")
    if not isinstance(spec, Mapping):
        return False
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or ():
            resources = container.get("resources") if isinstance(container, Mapping) else None
            if not isinstance(resources, Mapping):
                continue
            for kind in ("requests", "limits"):
                listed = resources.get(kind)
                if isinstance(listed, Mapping) and not managed.isdisjoint(listed):
                    return True
    return False


# -- transport ------------------------------------------------------------------------------------
def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _load_cert_chain(context: ssl.SSLContext, tls: ExtenderTLSConfig) -> None:
    """Client certificate: ``*Data`` wins over ``*File``; both halves are required."""
    cert, key = tls.cert_data or tls.cert_file, tls.key_data or tls.key_file
    if not cert and not key:
        return
    if not cert or not key:
        raise ValueError("tlsConfig: a client certificate needs both a certificate and a key")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for label, value in (("cert", cert), ("key", key)):
            if isinstance(value, bytes):
                path = Path(tmp) / f"{label}.pem"
                path.write_bytes(value)
                paths.append(str(path))
            else:
                paths.append(value)
        context.load_cert_chain(certfile=paths[0], keyfile=paths[1])


def tls_verify(config: ExtenderConfig) -> ssl.SSLContext | bool:
    """What ``makeTransport`` builds: ``True`` (system roots, verified) when neither
    ``enableHTTPS`` nor ``tlsConfig`` is set, else a context.

    ``enableHTTPS`` without ``caFile``/``caData`` turns verification off. ``insecure`` together
    with a CA is refused, as client-go's ``TLSConfigFor`` refuses it.
    """
    if config.tls_config is None and not config.enable_https:
        return True
    tls = config.tls_config or ExtenderTLSConfig()
    if tls.insecure and tls.has_ca:
        raise ValueError(
            "tlsConfig: specifying a root certificates file with the insecure flag is not allowed"
        )
    insecure = tls.insecure or (config.enable_https and not tls.has_ca)
    context = ssl.create_default_context()
    if tls.ca_data:
        context.load_verify_locations(cadata=tls.ca_data.decode("utf-8"))
    elif tls.ca_file:
        context.load_verify_locations(cafile=tls.ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    _load_cert_chain(context, tls)
    return context


class HTTPExtender:
    """One extender entry as kube-scheduler's ``HTTPExtender`` calls it.

    Thread-safe: kube-scheduler calls prioritize for several extenders at once and bind from
    per-pod goroutines; this client may be shared the same way. Close it (or use ``with``)
    to release its connections. Construction fails with ValueError for TLS settings
    kube-scheduler would refuse at startup.
    """

    def __init__(self, config: ExtenderConfig, *, transport: httpx.BaseTransport | None = None):
        self.config = config
        timeout = config.timeout_seconds
        self._timeout = timeout
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=2, keepalive_expiry=90.0
            ),
            verify=tls_verify(config),
            trust_env=not _is_loopback(config.url_prefix),
            transport=transport,
            follow_redirects=False,
        )
        self._extensions: dict[str, Any] = {}
        if config.tls_config is not None and config.tls_config.server_name:
            self._extensions["sni_hostname"] = config.tls_config.server_name

    @property
    def name(self) -> str:
        """``Name()``: the entry's ``urlPrefix``."""
        return self.config.url_prefix

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HTTPExtender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def is_interested(self, pod: Mapping[str, Any]) -> bool:
        """``IsInterested`` (see :func:`is_interested`)."""
        return is_interested(self.config, pod)

    # -- the verbs --------------------------------------------------------------------------------
    def filter(self, pod: wire.RawObject, nodes: Sequence[wire.RawObject]) -> FilterReply:
        """``Filter``: ask which of ``nodes`` the pod may use.

        Without a filter verb every node passes and nothing is sent. Raises
        :class:`ExtenderError` for a failed call, a reply with ``Error``, or (node-cache mode)
        a returned name that was not a candidate.
        """
        if not self.config.is_filter:
            return FilterReply(tuple(nodes))
        by_name = {_name(n): n for n in nodes}
        result = self._send(
            self.config.filter_verb, self._args(pod, nodes), wire.decode_filter_result
        )
        if result.error:
            raise self._error(self.config.filter_verb, result.error)
        failed = result.failed_nodes or {}
        unresolvable = result.failed_and_unresolvable_nodes or {}
        if self.config.node_cache_capable and result.node_names is not None:
            passed = []
            for name in result.node_names:
                if name not in by_name:
                    raise self._error(
                        self.config.filter_verb,
                        f'extender "{self.name}" claims a filtered node "{name}" which is not '
                        "found in the input node list",
                    )
                passed.append(by_name[name])
            return FilterReply(tuple(passed), failed, unresolvable)
        if result.nodes is not None:
            return FilterReply(result.nodes.items, failed, unresolvable, from_reply_objects=True)
        return FilterReply((), failed, unresolvable)

    def prioritize(
        self, pod: wire.RawObject, nodes: Sequence[wire.RawObject]
    ) -> tuple[tuple[wire.HostPriority, ...], int]:
        """``Prioritize``: the reply's host scores and this entry's weight.

        Without a prioritize verb: score 0 for every node and weight 0, nothing sent.
        """
        if not self.config.is_prioritizer:
            return tuple(wire.HostPriority(host=_name(n), score=0) for n in nodes), 0
        reply = self._send(
            self.config.prioritize_verb, self._args(pod, nodes), wire.decode_host_priority_list
        )
        return reply.root, self.config.weight

    def bind(self, pod: Mapping[str, Any], node: str) -> None:
        """``Bind``: ask the extender to bind ``pod`` to ``node`` (it creates the Binding)."""
        verb = self.config.bind_verb
        if not verb:
            raise self._error(verb, "unexpected empty bindVerb in extender")
        raw_meta = pod.get("metadata")
        meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
        args = wire.ExtenderBindingArgs(
            pod_name=str(meta.get("name", "")),
            pod_namespace=str(meta.get("namespace", "")),
            pod_uid=str(meta.get("uid", "")),
            node=node,
        )
        result = self._send(verb, args, wire.decode_binding_result)
        if result.error:
            raise self._error(verb, result.error)

    def process_preemption(
        self,
        pod: wire.RawObject,
        victims: Mapping[str, wire.Victims],
        pods_on_node: PodsOnNode,
    ) -> dict[str, wire.Victims]:
        """``ProcessPreemption``: the candidates and victims the extender accepts.

        Sends victims as UIDs (``NodeNameToMetaVictims``) in node-cache mode, else as full
        pods; the reply is always UIDs, mapped back to the pods ``pods_on_node`` lists. An
        unknown node or a UID not on that node raises :class:`ExtenderError`.
        """
        verb = self.config.preempt_verb
        if not verb:
            raise self._error(
                verb,
                f"preempt verb is not defined for extender {self.name} but run into "
                "ProcessPreemption",
            )
        if self.config.node_cache_capable:
            args = wire.ExtenderPreemptionArgs(
                pod=pod,
                node_name_to_meta_victims={
                    node: wire.MetaVictims(
                        pods=tuple(wire.MetaPod(uid=_uid(p)) for p in v.pods),
                        num_pdb_violations=v.num_pdb_violations,
                    )
                    for node, v in victims.items()
                },
            )
        else:
            args = wire.ExtenderPreemptionArgs(pod=pod, node_name_to_victims=dict(victims))
        result = self._send(verb, args, wire.decode_preemption_result)
        accepted: dict[str, wire.Victims] = {}
        for node, meta in (result.node_name_to_meta_victims or {}).items():
            on_node = pods_on_node(node)
            if on_node is None:
                raise self._error(verb, f'nodeinfo not found for node name "{node}"')
            by_uid = {_uid(p): p for p in on_node}
            chosen = []
            for meta_pod in meta.pods:
                if meta_pod.uid not in by_uid:
                    raise self._error(
                        verb,
                        f"extender: {self.name} claims to preempt pod (UID: &{{{meta_pod.uid}}}) "
                        f"on node: {node}, but the pod is not found on that node",
                    )
                chosen.append(by_uid[meta_pod.uid])
            accepted[node] = wire.Victims(
                pods=tuple(chosen), num_pdb_violations=meta.num_pdb_violations
            )
        return accepted

    # -- plumbing ---------------------------------------------------------------------------------
    def _args(self, pod: wire.RawObject, nodes: Sequence[wire.RawObject]) -> wire.ExtenderArgs:
        if self.config.node_cache_capable:
            return wire.ExtenderArgs(pod=pod, node_names=tuple(_name(n) for n in nodes))
        return wire.ExtenderArgs(pod=pod, nodes=wire.NodeList(items=tuple(nodes)))

    def _error(self, verb: str, message: str) -> ExtenderError:
        return ExtenderError(self.name, verb, message)

    def _send(self, verb: str, payload: wire.WireModel, decode: Callable[[bytes], _T]) -> _T:
        """``send``: POST the payload, require HTTP 200, decode the first JSON value."""
        url = self.config.url(verb)
        body = wire.encode(payload)
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        try:
            with self._client.stream(
                "POST",
                url,
                content=body,
                headers={"Content-Type": "application/json"},
                extensions=self._extensions,
            ) as response:
                if response.status_code != 200:
                    raise self._error(
                        verb,
                        f"failed {verb} with extender at URL {url}, code {response.status_code}",
                    )
                chunks = []
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if deadline is not None and time.monotonic() > deadline:
                        raise httpx.ReadTimeout("body not read within the timeout")
        except httpx.TimeoutException as err:
            raise self._error(
                verb,
                f'Post "{url}": context deadline exceeded (Client.Timeout {self._timeout}s '
                f"exceeded: {err})",
            ) from err
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            raise self._error(verb, f'Post "{url}": {err}') from err
        try:
            return decode(b"".join(chunks))
        except wire.WireError as err:
            raise self._error(verb, str(err)) from err
