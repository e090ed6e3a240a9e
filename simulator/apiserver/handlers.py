"""What each verb does: get, list, create, update, patch, delete, deletecollection, binding.

Synchronous functions over a :class:`~simulator.apiserver.cluster.ServedCluster`, called by
the app from a worker thread; every failure is an :class:`ApiError` with upstream's code,
reason and wording. The rules mirrored (upstream files in docs/apiserver.md):

* create: the body's kind and apiVersion must match the URL (400), so must its namespace
  (400); ``metadata.name`` is required unless ``generateName`` is set (then five random
  characters are appended, as ``names.SimpleNameGenerator``) and must be a DNS-1123 subdomain
  (a label for namespaces) (422); the namespace must exist (404, NamespaceLifecycle); a taken
  name is 409 AlreadyExists; pods start ``Pending``.
* update: a ``metadata.resourceVersion`` that is not the stored one is 409 Conflict (none =
  unconditional); the main resource keeps the stored ``status`` and the ``/status``
  subresource keeps everything but ``status``, for kinds with a status subresource; a pod's
  spec is immutable except container images, ``activeDeadlineSeconds``, tolerations,
  ``terminationGracePeriodSeconds`` and ``schedulingGates`` (422; ``spec.nodeName`` is set
  only through ``pods/binding``); a ResourceClaim's spec is immutable, its
  ``status.allocation`` cannot change once set, and ``reservedFor`` needs an allocation (422).
* patch: merge, strategic-merge or JSON patch of the stored object, then the update rules.
* delete: preconditions (``uid``, ``resourceVersion``) checked (409); deletion is immediate
  (the simulated kubelet confirms at once); the last state is returned.
* a replay played with an extender (read-only otherwise) takes a pod's status write that
  changes only its conditions and a running pod's DELETE from a preempting extender
  (:mod:`simulator.apiserver.replay_deletions`).
* pods/binding: 404 if the pod is missing, 409 if it is already bound or being deleted, 409
  on a uid mismatch; sets ``spec.nodeName`` and the ``PodScheduled`` condition; answers a
  Status Success (201).
"""

from __future__ import annotations

import copy
import random
import re
from typing import Any

from simulator.apiserver import bodies, status
from simulator.apiserver import patch as patching
from simulator.apiserver.cluster import ServedCluster
from simulator.apiserver.replay_deletions import ReplayDeletions
from simulator.apiserver.resources import Resource
from simulator.apiserver.status import ApiError, bad_request
from simulator.apiserver.store import Entry

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_POD_MUTABLE = (
    "activeDeadlineSeconds",
    "tolerations",
    "terminationGracePeriodSeconds",
    "schedulingGates",
)

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata: expected an object")
    return meta


def _require_name(resource: Resource, name: object) -> str:
    """``name`` if it is a non-empty string; else the apiserver's 422 for a missing name."""
    if not isinstance(name, str) or not name:
        raise status.invalid(
            resource,
            "",
            [
                (
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )
            ],
        )
    return name


def _check_name(resource: Resource, value: object) -> None:
    name = _require_name(resource, value)
    pattern, limit, what = (
        (_LABEL, 63, "RFC 1123 label")
        if resource.name == "namespaces"
        else (_SUBDOMAIN, 253, "RFC 1123 subdomain")
    )
    if len(name) > limit or not pattern.match(name):
        raise status.invalid(
            resource,
            name,
            [
                (
                    "FieldValueInvalid",
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
                    "alphanumeric characters, '-' or '.', and must start and end with an "
                    "alphanumeric character",
                )
            ],
        )


def _check_kind(resource: Resource, obj: Obj, *, binding: bool = False) -> None:
    kind, version = obj.get("kind"), obj.get("apiVersion")
    want_kind = "Binding" if binding else resource.kind
    if kind not in (None, "", want_kind):
        raise bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({want_kind})"
        )
    if version not in (None, "", resource.group_version):
        raise bad_request(
            f"the API version in the data ({version}) does not match the expected API version "
            f"({resource.group_version})"
        )


class Handlers:
    """The verbs over one served cluster."""

    def __init__(self, cluster: ServedCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    # -- helpers ---------------------------------------------------------------------------------
    def _replay_write(
        self, resource: Resource, sub: str | None, *, delete: bool = False
    ) -> ReplayDeletions | None:
        """The replay's deletions when this write to a read-only replay API is one a
        preempting extender makes (a pod's status, a pod's DELETE); else as
        :meth:`_writable`."""
        deletions = self.cluster.replay_deletions
        if (
            not self.cluster.writable
            and deletions is not None
            and deletions.accepts(resource, sub, delete=delete)
        ):
            return deletions
        self._writable()
        return None

    def _writable(self) -> None:
        if not self.cluster.writable:
            raise status.method_not_allowed(
                "the server does not allow this method on the requested resource "
                "(this API serves a replay and is read-only)"
            )

    def _entry(self, resource: Resource, namespace: str, name: str) -> Entry:
        entry = self.store.get(resource, namespace, name)
        if entry is None:
            raise status.not_found(resource, name)
        return entry

    def _incoming(self, resource: Resource, namespace: str, body: object) -> tuple[Obj, Obj]:
        """A private copy of a create or replace ``body`` (400 unless an object) whose kind
        and namespace fit ``resource`` in ``namespace``, and its metadata."""
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON or YAML object")
        obj = copy.deepcopy(body)
        _check_kind(resource, obj)
        self._check_namespace(resource, namespace, obj)
        return obj, _meta(obj)

    def _check_namespace(self, resource: Resource, namespace: str, obj: Obj) -> None:
        meta = _meta(obj)
        if not resource.namespaced:
            meta.pop("namespace", None)
            return
        given = meta.get("namespace")
        if given not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        meta["namespace"] = namespace

    # -- read ------------------------------------------------------------------------------------
    def get(self, resource: Resource, namespace: str, name: str) -> Entry:
        """The stored object (404 if absent)."""
        return self._entry(resource, namespace, name)

    # -- create ----------------------------------------------------------------------------------
    def create(self, resource: Resource, namespace: str, body: object) -> Entry:
        """Create (see the module docstring). Returns the stored entry."""
        self._writable()
        obj, meta = self._incoming(resource, namespace, body)
        if (
            not meta.get("name")
            and isinstance(meta.get("generateName"), str)
            and meta["generateName"]
        ):
            suffix = "".join(random.choices(_NAME_CHARS, k=5))
            meta["name"] = meta["generateName"][: 253 - 5] + suffix
        _check_name(resource, meta.get("name"))
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        if resource.name == "pods":
            obj.setdefault("status", {})["phase"] = "Pending"
        with self.cluster.lock:
            if resource.namespaced:
                namespaces = self.cluster.resource("namespaces")
                if self.store.get(namespaces, "", namespace) is None:
                    raise status.not_found("namespaces", namespace)
            obj.setdefault("apiVersion", resource.group_version)
            obj.setdefault("kind", resource.kind)
            self.cluster.model(resource, obj)  # 422 before anything is stored
            bodies.check_depth(obj)
            entry = self.store.create(resource, obj)
            self.cluster.after_write(resource, None, entry.obj())
            return (
                self.store.get(resource, namespace if resource.namespaced else "", entry.key[1])
                or entry
            )

    # -- update ----------------------------------------------------------------------------------
    def update(
        self, resource: Resource, namespace: str, name: str, body: object, sub: str | None
    ) -> Entry:
        """Replace (PUT) the object or its ``status`` (see the module docstring)."""
        deletions = self._replay_write(resource, sub)
        obj, meta = self._incoming(resource, namespace, body)
        if meta.get("name") != name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        with self.cluster.lock:
            old = self._entry(resource, namespace, name)
            if deletions is not None:
                return deletions.write_status(old, obj, str(meta.get("resourceVersion") or ""))
            return self._commit_update(
                resource, old, obj, sub, str(meta.get("resourceVersion") or "")
            )

    def _commit_update(
        self, resource: Resource, old: Entry, obj: Obj, sub: str | None, expect_rv: str
    ) -> Entry:
        before = old.obj()
        merged = self._apply_subresource(resource, before, obj, sub)
        self._validate_update(resource, before, merged)
        self.cluster.model(resource, merged)
        bodies.check_depth(merged)
        entry = self.store.update(resource, merged, expect_rv=expect_rv or None)
        self.cluster.after_write(resource, before, entry.obj())
        return self.store.get(resource, entry.key[0], entry.key[1]) or entry

    @staticmethod
    def _apply_subresource(resource: Resource, before: Obj, obj: Obj, sub: str | None) -> Obj:
        has_status = resource.subresource("status") is not None
        if sub == "status":
            merged = copy.deepcopy(before)
            merged["status"] = obj.get("status", {})
            new_meta, old_meta = _meta(obj), merged["metadata"]
            for field in ("labels", "annotations"):
                if field in new_meta:
                    old_meta[field] = new_meta[field]
            old_meta["resourceVersion"] = new_meta.get("resourceVersion")
            return merged
        if has_status:
            if "status" in before:
                obj["status"] = before["status"]
            else:
                obj.pop("status", None)
        meta, old_meta = _meta(obj), before.get("metadata", {})
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        return obj

    @staticmethod
    def _validate_update(resource: Resource, before: Obj, after: Obj) -> None:
        name = str(before.get("metadata", {}).get("name", ""))
        if resource.name == "pods":
            old_spec = _masked_pod_spec(before.get("spec", {}))
            new_spec = _masked_pod_spec(after.get("spec", {}))
            if old_spec != new_spec:
                raise status.invalid(
                    resource,
                    name,
                    [
                        (
                            "FieldValueForbidden",
                            "spec",
                            "Forbidden: pod updates may not change fields other than "
                            "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                            "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
                            "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it "
                            "to be set to 1 if it was previously negative)",
                        )
                    ],
                )
        if resource.name == "resourceclaims":
            if before.get("spec") != after.get("spec"):
                raise status.invalid(
                    resource,
                    name,
                    [("FieldValueInvalid", "spec", "Invalid value: field is immutable")],
                )
            old_alloc = before.get("status", {}).get("allocation")
            new_st = after.get("status", {}) or {}
            new_alloc = new_st.get("allocation")
            if old_alloc is not None and new_alloc is not None and old_alloc != new_alloc:
                raise status.invalid(
                    resource,
                    name,
                    [
                        (
                            "FieldValueInvalid",
                            "status.allocation",
                            "Invalid value: field is immutable",
                        )
                    ],
                )
            if new_st.get("reservedFor") and new_alloc is None:
                raise status.invalid(
                    resource,
                    name,
                    [
                        (
                            "FieldValueForbidden",
                            "status.reservedFor",
                            "Forbidden: may not be specified when `allocated` is not set",
                        )
                    ],
                )
            if len(new_st.get("reservedFor") or []) > 256:
                raise status.invalid(
                    resource,
                    name,
                    [
                        (
                            "FieldValueTooMany",
                            "status.reservedFor",
                            "Too many: must have at most 256 items",
                        )
                    ],
                )

    # -- patch -----------------------------------------------------------------------------------
    def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        body: object,
        content_type: str,
        sub: str | None,
    ) -> Entry:
        """Patch the object or its status with the given patch type."""
        deletions = self._replay_write(resource, sub)
        with self.cluster.lock:
            old = self._entry(resource, namespace, name)
            before = old.obj()
            try:
                if content_type == MERGE_PATCH:
                    patched = patching.merge_patch(before, body)
                elif content_type == STRATEGIC_PATCH:
                    if resource.kind in patching.SMP_UNSUPPORTED_KINDS:
                        raise status.unsupported_media_type(content_type)
                    patched = patching.strategic_merge_patch(resource.kind, before, body)
                elif content_type == JSON_PATCH:
                    patched = patching.json_patch(before, body)
                else:
                    raise status.unsupported_media_type(content_type)
            except patching.PatchError as exc:
                raise bad_request(str(exc)) from None
            except patching.PatchConflict as exc:
                raise ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request: {exc}",
                ) from None
            if not isinstance(patched, dict):
                raise bad_request("the patched object is not a JSON object")
            _check_kind(resource, patched)
            meta = _meta(patched)
            if meta.get("name") != name or (
                resource.namespaced and meta.get("namespace") != namespace
            ):
                raise bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on the "
                    f"URL ({name})"
                )
            expect = str(meta.get("resourceVersion") or "")
            if expect == str(old.rv):
                expect = ""  # unchanged by the patch: unconditional
            if deletions is not None:
                return deletions.write_status(old, patched, expect)
            return self._commit_update(resource, old, patched, sub, expect)

    # -- delete ----------------------------------------------------------------------------------
    def delete(self, resource: Resource, namespace: str, name: str, options: object) -> Entry:
        """Delete one object (see the module docstring)."""
        deletions = self._replay_write(resource, None, delete=True)
        expect_rv, expect_uid = _preconditions(options)
        with self.cluster.lock:
            if deletions is not None:
                grace = options.get("gracePeriodSeconds") if isinstance(options, dict) else None
                return deletions.delete(namespace, name, expect_rv, expect_uid, grace)
            old = self._entry(resource, namespace, name)
            before = old.obj()
            gone = self.store.delete(
                resource, namespace, name, expect_rv=expect_rv, expect_uid=expect_uid
            )
            self.cluster.after_write(resource, before, None)
            return gone

    def delete_collection(
        self, resource: Resource, namespace: str, entries: list[Entry]
    ) -> list[Entry]:
        """Delete the given (listed and filtered) entries; ones already gone are skipped."""
        self._writable()
        out = []
        with self.cluster.lock:
            for entry in entries:
                current = self.store.get(resource, entry.key[0], entry.key[1])
                if current is None:
                    continue
                before = current.obj()
                out.append(self.store.delete(resource, entry.key[0], entry.key[1]))
                self.cluster.after_write(resource, before, None)
        return out

    # -- binding ---------------------------------------------------------------------------------
    def bind(self, pods: Resource, namespace: str, name: str | None, body: object) -> Obj:
        """``pods/binding`` (``name`` from the URL) or ``bindings`` (name from the body).

        In a replay played with an extender (``cluster.replay_binds``) the binding is
        accepted although the API is read-only, and only stored: the replay applies it."""
        if not self.cluster.replay_binds:
            self._writable()
        if not isinstance(body, dict):
            raise bad_request("the request body must be a Binding object")
        if body.get("kind") not in (None, "", "Binding"):
            raise bad_request(
                f"the kind in the data ({body.get('kind')}) does not match the expected kind "
                "(Binding)"
            )
        meta = body.get("metadata") or {}
        if not isinstance(meta, dict):
            raise bad_request("metadata: expected an object")
        target = body.get("target") or {}
        if not isinstance(target, dict):
            raise bad_request("target: expected an object")
        pod_name = name or meta.get("name")
        if name is not None and meta.get("name") not in (None, "", name):
            raise bad_request("name in URL does not match name in Binding object")
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        pod_name = _require_name(pods, pod_name)
        node = target.get("name")
        if not isinstance(node, str) or not node:
            raise status.invalid(
                pods, pod_name, [("FieldValueRequired", "target.name", "Required value")]
            )
        if target.get("kind") not in (None, "", "Node"):
            raise status.invalid(
                pods,
                pod_name,
                [
                    (
                        "FieldValueNotSupported",
                        "target.kind",
                        f'Unsupported value: "{target.get("kind")}": supported values: "Node"',
                    )
                ],
            )
        with self.cluster.lock:
            entry = self._entry(pods, namespace, pod_name)
            pod = entry.obj()
            uid = meta.get("uid")
            if uid and uid != entry.uid:
                raise status.conflict(
                    "pods/binding",
                    pod_name,
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                    f"{entry.uid}",
                )
            if pod.get("metadata", {}).get("deletionTimestamp"):
                raise status.conflict(
                    "pods/binding",
                    pod_name,
                    f"pod {pod_name} is being deleted, cannot be assigned to a host",
                )
            bound = pod.get("spec", {}).get("nodeName")
            if bound:
                raise status.conflict(
                    "pods/binding",
                    pod_name,
                    f'pod {pod_name} is already assigned to node "{bound}"',
                )
            before = copy.deepcopy(pod)
            pod.setdefault("spec", {})["nodeName"] = node
            for field in ("annotations",):
                extra = meta.get(field)
                if isinstance(extra, dict):
                    pod["metadata"].setdefault(field, {}).update(extra)
            conditions = [
                c
                for c in pod.setdefault("status", {}).get("conditions") or []
                if c.get("type") != "PodScheduled"
            ]
            conditions.append({"type": "PodScheduled", "status": "True"})
            pod["status"]["conditions"] = conditions
            pod = self.cluster.kubelet_view(pod)
            stored = self.store.update(pods, pod)
            if self.cluster.replay_binds:
                self.cluster.changed.set()
            else:
                self._bind_in_simulator(f"{namespace}/{pod_name}", node, before, stored.obj())
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    def _bind_in_simulator(self, key: str, node: str, before: Obj, after: Obj) -> None:
        backend = self.cluster.backend
        if backend is None:
            self.cluster.changed.set()
            return
        record = backend.cache.pods.get(key)
        if record is not None and record.assumed and record.node == node:
            backend.bind(key, node)
            self.cluster.changed.set()
            return
        if record is not None and record.assumed:
            backend.cache.forget_pod(key)
        self.cluster.after_write(self.cluster.resource("pods"), before, after)


def _masked_pod_spec(spec: Obj) -> Obj:
    out = {k: v for k, v in spec.items() if k not in _POD_MUTABLE}
    for field in ("containers", "initContainers"):
        if isinstance(out.get(field), list):
            out[field] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in out[field]
            ]
    return out


def _preconditions(options: object) -> tuple[str | None, str | None]:
    if options is None:
        return None, None
    if not isinstance(options, dict):
        raise bad_request("the request body must be a DeleteOptions object")
    pre = options.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise bad_request("preconditions: expected an object")
    rv, uid = pre.get("resourceVersion"), pre.get("uid")
    if rv is not None and not isinstance(rv, str):
        raise bad_request("preconditions.resourceVersion: expected a string")
    if uid is not None and not isinstance(uid, str):
        raise bad_request("preconditions.uid: expected a string")
    return rv or None, uid or None
