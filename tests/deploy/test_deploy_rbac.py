"""RBAC of the deployment grants each component exactly the API calls it makes.

For each container the calls are listed here from what its code does: tessera's informers
(one list + watch per object kind it caches) and its Binding; kube-scheduler's built-in roles,
the DRA rules of the upstream bootstrap policy for 1.34/1.35, and its leader-election lease.
Every rule is compared as a set of (API group, resource, verb, resource name) grants, so a
missing call and an extra permission both fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scheduler.api.conversion import DRA_GROUP
from scheduler.api.lws import LWS_GROUP
from scheduler.api.podgroup import POD_GROUP_API_VERSION
from tests.deploy.manifests import (
    Manifest,
    deploy_objects,
    find,
    of_kind,
    pod_containers,
    preempt_gangs_objects,
    scheduler_config,
    tls_objects,
)

Grant = tuple[str, str, str, str]
"""(API group, resource, verb, resource name or "*")."""

INFORMER_VERBS = ("list", "watch")
READ = ("get", "list", "watch")
READ_UPDATE = ("get", "list", "watch", "update", "patch")
PODGROUP_GROUP = POD_GROUP_API_VERSION.split("/")[0]

TESSERA_INFORMERS = (
    ("", "nodes"),
    ("", "pods"),
    ("scheduling.k8s.io", "priorityclasses"),
    (DRA_GROUP, "deviceclasses"),
    (DRA_GROUP, "resourceslices"),
    (DRA_GROUP, "resourceclaims"),
    (LWS_GROUP, "leaderworkersets"),
    (PODGROUP_GROUP, "podgroups"),
)
"""What `tessera serve` caches: the cluster state its placement reads. The API groups come
from the models tessera decodes these objects with."""

TESSERA_CALLS: frozenset[Grant] = frozenset(
    {
        (group, resource, verb, "*")
        for group, resource in TESSERA_INFORMERS
        for verb in INFORMER_VERBS
    }
    | {("", "pods/binding", "create", "*")}  # the bind verb creates the Binding itself
)

KUBE_SCHEDULER_DRA_CALLS: frozenset[Grant] = frozenset(
    {(DRA_GROUP, r, v, "*") for r in ("deviceclasses", "resourceslices") for v in READ}
    | {
        (DRA_GROUP, r, v, "*")
        for r in ("resourceclaims", "resourceclaims/status")
        for v in READ_UPDATE
    }
    | {("", "pods/finalizers", v, "*") for v in READ_UPDATE}
)
"""The DynamicResources rules of system:kube-scheduler with the default gates of 1.34/1.35
(upstream plugin/pkg/auth/authorizer/rbac/bootstrappolicy; see manifests/deploy/README.md)."""

SCHEDULER_SA = ("tessera-system", "tessera-scheduler")
EXTENDER_SA = ("tessera-system", "tessera-extender")


def grants(rules: Iterable[dict[str, Any]]) -> frozenset[Grant]:
    """A role's rules expanded into single grants."""
    out = set()
    for rule in rules:
        assert "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames") or ("*",):
                        out.add((group, resource, verb, name))
    return frozenset(out)


def bound_roles(objects: list[Manifest], subject: tuple[str, str]) -> set[tuple[str, str, str]]:
    """(binding namespace or "", roleRef kind, roleRef name) of every binding of a
    ServiceAccount."""
    namespace, name = subject
    out = set()
    for manifest in objects:
        if manifest.kind not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        for s in manifest.obj["subjects"]:
            if (s["kind"], s.get("namespace"), s["name"]) == ("ServiceAccount", namespace, name):
                ref = manifest.obj["roleRef"]
                where = manifest.obj["metadata"].get("namespace", "")
                out.add((where, ref["kind"], ref["name"]))
    return out


def test_tessera_role_grants_exactly_its_informers_and_binding() -> None:
    """The tessera-extender ClusterRole is list/watch of each cached kind + create Binding."""
    role = find(deploy_objects(), "ClusterRole", "tessera-extender")
    assert grants(role["rules"]) == TESSERA_CALLS


def test_tessera_never_writes_claims_or_deletes_pods() -> None:
    """tessera's only write is pods/binding: no ResourceClaim write, no pod delete."""
    role = find(deploy_objects(), "ClusterRole", "tessera-extender")
    writes = {g for g in grants(role["rules"]) if g[2] not in INFORMER_VERBS}
    assert writes == {("", "pods/binding", "create", "*")}


def test_preempt_gangs_overlay_grants_exactly_the_eviction_writes() -> None:
    """The opt-in overlay adds what ``tessera serve --preempt-gangs`` writes per victim —
    the DisruptionTarget condition (patch pods/status) and the DELETE — to the ServiceAccount
    the tessera container runs as, and nothing else; the base role stays without them."""
    overlay = preempt_gangs_objects()
    role = find(overlay, "ClusterRole", "tessera-extender-preempt-gangs")
    assert grants(role["rules"]) == {
        ("", "pods/status", "patch", "*"),
        ("", "pods", "delete", "*"),
    }
    assert ("", "ClusterRole", "tessera-extender-preempt-gangs") in bound_roles(
        overlay, SCHEDULER_SA
    )
    base = find(deploy_objects(), "ClusterRole", "tessera-extender")
    assert not grants(base["rules"]) & grants(role["rules"])


def test_tls_layout_uses_the_same_tessera_role() -> None:
    """The TLS layout's tessera-extender ClusterRole equals the sidecar layout's."""
    sidecar = find(deploy_objects(), "ClusterRole", "tessera-extender")
    tls = find(tls_objects(), "ClusterRole", "tessera-extender")
    assert grants(tls["rules"]) == grants(sidecar["rules"])


def test_kube_scheduler_dra_role_matches_upstream() -> None:
    """tessera-scheduler-dra grants kube-scheduler's DRA calls of 1.34/1.35, nothing else."""
    role = find(deploy_objects(), "ClusterRole", "tessera-scheduler-dra")
    assert grants(role["rules"]) == KUBE_SCHEDULER_DRA_CALLS


def test_leader_election_role_covers_exactly_the_configured_lease() -> None:
    """The lease Role lets kube-scheduler create, get and update only its configured lease."""
    election = scheduler_config()["leaderElection"]
    assert election["leaderElect"] is True
    assert election["resourceLock"] == "leases"
    objects = deploy_objects()
    role = find(objects, "Role", "tessera-scheduler-leader-election")
    assert role["metadata"]["namespace"] == election["resourceNamespace"]
    lease = election["resourceName"]
    assert grants(role["rules"]) == {
        ("coordination.k8s.io", "leases", "create", "*"),
        ("coordination.k8s.io", "leases", "get", lease),
        ("coordination.k8s.io", "leases", "update", lease),
    }
    assert lease != "kube-scheduler", "the default scheduler's lease must not be shared"


def test_scheduler_service_account_has_exactly_its_bindings() -> None:
    """The scheduler pod's ServiceAccount is bound to the two built-in scheduler roles, the
    DRA role, its lease Role, the authentication reader and the tessera role; nothing else."""
    objects = deploy_objects()
    assert bound_roles(objects, SCHEDULER_SA) == {
        ("", "ClusterRole", "system:kube-scheduler"),
        ("", "ClusterRole", "system:volume-scheduler"),
        ("", "ClusterRole", "tessera-scheduler-dra"),
        ("", "ClusterRole", "tessera-extender"),
        ("tessera-system", "Role", "tessera-scheduler-leader-election"),
        ("kube-system", "Role", "extension-apiserver-authentication-reader"),
    }


def test_extender_service_account_has_only_the_tessera_role() -> None:
    """In the TLS layout tessera's ServiceAccount holds the tessera role alone."""
    assert bound_roles(tls_objects(), EXTENDER_SA) == {("", "ClusterRole", "tessera-extender")}
    assert bound_roles(deploy_objects(), EXTENDER_SA) == set()


def test_pods_run_as_the_bound_service_accounts() -> None:
    """Each Deployment runs as the ServiceAccount its bindings name, declared beside it."""
    for objects, (namespace, name), deployment in (
        (deploy_objects(), SCHEDULER_SA, "tessera-scheduler"),
        (tls_objects(), EXTENDER_SA, "tessera-extender"),
    ):
        account = find(objects, "ServiceAccount", name)
        assert account["metadata"]["namespace"] == namespace
        spec = find(objects, "Deployment", deployment)["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == name
        assert "automountServiceAccountToken" not in spec  # both containers call the API


def test_every_role_is_bound_and_every_binding_names_a_shipped_or_builtin_role() -> None:
    """No role is shipped unbound; bindings refer to shipped roles or named built-ins."""
    builtin = {
        ("ClusterRole", "system:kube-scheduler"),
        ("ClusterRole", "system:volume-scheduler"),
        ("Role", "extension-apiserver-authentication-reader"),
    }
    for objects in (deploy_objects(), tls_objects()):
        shipped = {
            (m.kind, m.name) for m in [*of_kind(objects, "ClusterRole"), *of_kind(objects, "Role")]
        }
        referenced = {
            (m.obj["roleRef"]["kind"], m.obj["roleRef"]["name"])
            for m in [*of_kind(objects, "ClusterRoleBinding"), *of_kind(objects, "RoleBinding")]
        }
        assert shipped <= referenced
        assert referenced <= shipped | builtin


def test_containers_share_one_service_account() -> None:
    """The scheduler pod has exactly the two containers whose calls are listed above."""
    spec = find(deploy_objects(), "Deployment", "tessera-scheduler")["spec"]["template"]["spec"]
    assert sorted(c["name"] for c in pod_containers(spec)) == ["kube-scheduler", "tessera"]
