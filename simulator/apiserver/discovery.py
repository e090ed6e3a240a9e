"""Discovery documents: ``/version``, ``/api``, ``/apis``, group versions, aggregated
discovery, and the OpenAPI v3 index kubectl reads before ``create``.

* Legacy discovery (``APIVersions``, ``APIGroupList``, ``APIGroup``, ``APIResourceList``)
  as ``k8s.io/apiserver/pkg/endpoints/discovery`` serves it.
* Aggregated discovery (``APIGroupDiscoveryList``, ``apidiscovery.k8s.io`` v2 and v2beta1)
  when the client's ``Accept`` asks for it, as ``.../endpoints/discovery/aggregated`` does;
  the response's Content-Type names the type, which is how client-go (kubectl 1.26+) tells it
  from the legacy list it falls back to.
* OpenAPI v3: an index of group versions and, per group version, a document whose PATCH
  operations carry ``x-kubernetes-group-version-kind`` and a ``fieldValidation`` parameter.
  That is all kubectl reads from it before ``create``/``apply``
  (``staging/src/k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go``): it then
  leaves validation to the server instead of downloading OpenAPI v2 schemas. The documents
  carry no schemas (see docs/apiserver.md: the facade keeps unknown fields).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from simulator.apiserver.resources import (
    ALL_VERBS,
    READ_VERBS,
    Resource,
    ResourceTable,
    Subresource,
)

KUBERNETES_VERSION = (1, 35)
AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"


def version_info() -> dict[str, str]:
    """The ``/version`` body."""
    major, minor = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.0-tessera",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "tessera",
        "platform": "linux/amd64",
    }


def _verbs(resource: Resource, writable: bool) -> list[str]:
    return list(ALL_VERBS if writable else READ_VERBS)


def _sub_verbs(sub: Subresource, writable: bool) -> list[str]:
    return list(sub.verbs if writable else [v for v in sub.verbs if v in READ_VERBS])


BINDINGS = Resource("", "v1", "bindings", "Binding", True, "binding", generation=False)
"""The legacy ``/api/v1/namespaces/{ns}/bindings`` endpoint (create only)."""


def _aliases(r: Resource) -> dict[str, list[str]]:
    """``shortNames`` and ``categories`` of ``r``, each only when it has any (both
    discovery formats omit them when empty)."""
    out: dict[str, list[str]] = {}
    if r.short_names:
        out["shortNames"] = list(r.short_names)
    if r.categories:
        out["categories"] = list(r.categories)
    return out


def resource_list(table: ResourceTable, group: str, version: str, writable: bool) -> dict[str, Any]:
    """``APIResourceList`` of one group version."""
    items: list[dict[str, Any]] = []
    for r in table.in_group_version(group, version):
        entry: dict[str, Any] = {
            "name": r.name,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": _verbs(r, writable),
            **_aliases(r),
        }
        items.append(entry)
        for sub in r.subresources:
            verbs = _sub_verbs(sub, writable)
            if verbs:
                items.append(
                    {
                        "name": f"{r.name}/{sub.name}",
                        "singularName": "",
                        "namespaced": r.namespaced,
                        "kind": sub.kind,
                        "verbs": verbs,
                    }
                )
    if group == "" and writable:
        items.append(
            {
                "name": "bindings",
                "singularName": "binding",
                "namespaced": True,
                "kind": "Binding",
                "verbs": ["create"],
            }
        )
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}


def api_versions(address: str) -> dict[str, Any]:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    """``APIGroup`` of one named group (first version preferred)."""
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": listed,
        "preferredVersion": listed[0],
    }


def api_group_list(table: ResourceTable) -> dict[str, Any]:
    """``/apis``: every named group."""
    groups = [api_group(g, vs) for g, vs in table.group_versions().items()]
    for g in groups:
        del g["kind"], g["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _discovery_resource(r: Resource, writable: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": r.name,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": _verbs(r, writable),
        **_aliases(r),
    }
    subs = []
    for sub in r.subresources:
        verbs = _sub_verbs(sub, writable)
        if verbs:
            subs.append(
                {
                    "subresource": sub.name,
                    "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
                    "verbs": verbs,
                }
            )
    if subs:
        out["subresources"] = subs
    return out


def aggregated(table: ResourceTable, *, core: bool, version: str, writable: bool) -> dict[str, Any]:
    """``APIGroupDiscoveryList`` of the core group (``/api``) or the named groups (``/apis``);
    ``version`` is ``v2`` or ``v2beta1``."""
    groups = {"": ["v1"]} if core else table.group_versions()
    items = []
    for group, versions in groups.items():
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": v,
                        "resources": [
                            _discovery_resource(r, writable)
                            for r in table.in_group_version(group, v)
                        ],
                        "freshness": "Current",
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }


def wants_aggregated(accept: str) -> str | None:
    """The aggregated-discovery version the Accept header prefers (``v2``/``v2beta1``), or
    None when it prefers (or only allows) the legacy documents. Media ranges are taken in
    order, as client-go lists them by preference."""
    for part in accept.split(","):
        params = {}
        for piece in part.split(";")[1:]:
            k, _, v = piece.strip().partition("=")
            params[k] = v
        media = part.split(";")[0].strip()
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
            if params.get("v") in ("v2", "v2beta1"):
                return params["v"]
            continue
        if media in ("application/json", "*/*", "application/*") and "as" not in params:
            return None
    return None


# -- OpenAPI v3 ------------------------------------------------------------------------------------
def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_gv_document(table: ResourceTable, group: str, version: str) -> dict[str, Any]:
    """The OpenAPI v3 document of one group version (paths with their PATCH operations)."""
    paths: dict[str, Any] = {}
    base = "/" + _gv_path(group, version)
    for r in table.in_group_version(group, version):
        prefix = f"{base}/namespaces/{{namespace}}/{r.name}" if r.namespaced else f"{base}/{r.name}"
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        params = [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in ("dryRun", "fieldManager", "fieldValidation", "force")
        ]
        paths[prefix + "/{name}"] = {
            "patch": {
                "operationId": f"patch{r.kind}",
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
        paths[prefix] = {
            "post": {
                "operationId": f"create{r.kind}",
                "parameters": params[:3],
                "responses": {"201": {"description": "Created"}},
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
    major, minor = KUBERNETES_VERSION
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v{major}.{minor}.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_index(table: ResourceTable) -> dict[str, Any]:
    """``/openapi/v3``: group version -> the URL of its document (with a content hash)."""
    gvs = [("", "v1")] + [(g, v) for g, vs in table.group_versions().items() for v in vs]
    paths = {}
    for group, version in gvs:
        doc = orjson.dumps(openapi_gv_document(table, group, version))
        digest = hashlib.sha512(doc).hexdigest()[:64].upper()
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
