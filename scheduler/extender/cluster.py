"""WebhookCluster: the webhook's ClusterBackend (state source, clock, predicted claims).

The framework runs unchanged in the webhook (docs/architecture.md): this object gives it the
:class:`~scheduler.extender.state.ClusterState`'s cache, the cluster's clock
(:mod:`scheduler.extender.clock`), and the few writes the framework may ask for — of which
the webhook performs none:

* it **never writes a claim allocation** (kube-scheduler's DynamicResources does, in its
  PreBind) and never binds through the framework (the bind verb does,
  :mod:`scheduler.extender.binding`): :meth:`write_allocation` and :meth:`bind` raise;
* **evictions are only recorded** (:attr:`evicted`): the preempt verb hands the preemption
  planner's victims to kube-scheduler, which deletes them;
* **predicted claims**: a gang member that does not exist yet (an LWS worker) has no
  ResourceClaim yet, so :meth:`prepare_pod` creates, in the cache only, one claim per
  template reference, named ``<pod>-<claim>`` + :data:`PREDICTED_SUFFIX`, whose devices the
  gang cycle then assumes — the first-fit choice kube-scheduler's DynamicResources will make.
  When the real claim of that pod and pod-claim name shows its written allocation
  (:meth:`claim_changed`, a :class:`~scheduler.extender.state.StateListener`), the
  prediction is checked (counted in the state's ``predictions`` / ``mismatches``) and the
  predicted claim dropped: the written allocation holds the devices from then on.
"""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.api.dra import ResourceClaim
from scheduler.api.meta import ObjectMeta
from scheduler.api.pod import Pod, PodResourceClaimStatus, pod_key
from scheduler.cluster.cache import ClusterCache
from scheduler.dra.claims import ClaimAllocation
from scheduler.dra.convert import device_results
from scheduler.extender.state import ClusterState

__all__ = [
    "POD_CLAIM_NAME_ANNOTATION",
    "PREDICTED_SUFFIX",
    "TemplateMissingError",
    "WebhookCluster",
]

PREDICTED_SUFFIX = ".tessera-predicted"
"""Suffix of the in-cache claims made for gang members that do not exist yet."""

POD_CLAIM_NAME_ANNOTATION = "resource.kubernetes.io/pod-claim-name"
"""Set by the resourceclaim controller on a generated claim: the pod's claim entry name."""


class TemplateMissingError(LookupError):
    """A gang member names a ResourceClaimTemplate the webhook has not seen."""


class WebhookCluster:
    """The ClusterBackend of the webhook (see the module docstring)."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.evicted: list[tuple[str, str]] = []
        self.predicted: dict[str, tuple[str, str]] = {}
        """Predicted claim key -> (pod key, pod claim name)."""
        state.listeners.append(self)

    @property
    def cache(self) -> ClusterCache:
        """The state's cache."""
        return self.state.cache

    def now(self) -> float:
        """The cluster's time in seconds (the wall clock, or a served replay's virtual clock:
        :mod:`scheduler.extender.clock`)."""
        return self.state.clock.now()

    def claim_templates(self) -> Mapping[str, object]:
        """ResourceClaimTemplates by ``namespace/name``."""
        return self.state.templates

    def write_allocation(
        self, claim_key: str, allocation: ClaimAllocation | None, pod_key: str
    ) -> None:
        """Never called: kube-scheduler writes allocations (raises RuntimeError)."""
        raise RuntimeError(
            f"the webhook never writes claim allocations (claim {claim_key}, pod {pod_key})"
        )

    def bind(self, pod_key: str, node: str) -> None:
        """Never called: the bind verb binds (raises RuntimeError)."""
        raise RuntimeError(f"the webhook binds through its bind verb, not the framework: {pod_key}")

    def evict(self, pod_key: str, reason: str) -> None:
        """Record a victim the preemption planner chose; nothing is deleted."""
        self.evicted.append((pod_key, reason))

    def take_evicted(self) -> list[tuple[str, str]]:
        """The victims recorded since the last call (and forget them)."""
        out, self.evicted = self.evicted, []
        return out

    # -- predicted claims -------------------------------------------------------------------------
    def prepare_pod(self, pod: Pod) -> Pod:
        """The pod with a predicted claim per template reference (created in the cache unless
        present); raises :class:`TemplateMissingError` for an unknown template."""
        namespace = pod.metadata.namespace or "default"
        statuses = []
        for ref in pod.spec.resource_claims:
            if not ref.resource_claim_template_name:
                continue
            template = self.state.templates.get(f"{namespace}/{ref.resource_claim_template_name}")
            if template is None:
                raise TemplateMissingError(
                    f"Pod {pod_key(pod)}: resourceClaims[{ref.name}]: ResourceClaimTemplate "
                    f"{namespace}/{ref.resource_claim_template_name} not found"
                )
            name = f"{pod.metadata.name}-{ref.name}{PREDICTED_SUFFIX}"
            statuses.append(PodResourceClaimStatus(name=ref.name, resource_claim_name=name))
            key = f"{namespace}/{name}"
            if key in self.cache.claims:
                continue
            claim = ResourceClaim(
                metadata=ObjectMeta(
                    name=name,
                    namespace=namespace,
                    labels=dict(template.spec.metadata.labels),
                    annotations={
                        **template.spec.metadata.annotations,
                        POD_CLAIM_NAME_ANNOTATION: ref.name,
                    },
                ),
                spec=template.spec.spec,
            )
            self.cache.add_claim(claim)
            self.predicted[key] = (pod_key(pod), ref.name)
        if not statuses:
            return pod
        status = pod.status.model_copy(update={"resource_claim_statuses": tuple(statuses)})
        return pod.model_copy(update={"status": status})

    def discard_prepared(self, pod: Pod) -> None:
        """Drop the predicted claims :meth:`prepare_pod` made for ``pod``."""
        namespace = pod.metadata.namespace or "default"
        for status in pod.status.resource_claim_statuses:
            key = f"{namespace}/{status.resource_claim_name}"
            if key in self.predicted:
                self.drop_predicted(key)

    def drop_predicted(self, key: str) -> None:
        """Forget one predicted claim and the devices it held."""
        self.predicted.pop(key, None)
        self.cache.remove_claim(key)

    def predicted_of(self, pod: str) -> list[str]:
        """The predicted claims held for the pod ``namespace/name``."""
        return [key for key, (owner, _) in self.predicted.items() if owner == pod]

    # -- StateListener ----------------------------------------------------------------------------
    def pod_changed(self, key: str, old: Pod | None, new: Pod | None) -> None:
        """Nothing to do here (the gang planner follows pods)."""

    def claim_changed(self, key: str, claim: ResourceClaim | None) -> None:
        """A real claim with its written allocation replaces the prediction for the same
        pod and pod-claim name."""
        if claim is None or claim.status.allocation is None or not self.predicted:
            return
        pod_name = next(
            (r.name for r in claim.metadata.owner_references if r.kind == "Pod" and r.controller),
            None,
        )
        claim_name = claim.metadata.annotations.get(POD_CLAIM_NAME_ANNOTATION)
        if pod_name is None or claim_name is None:
            return
        owner = f"{claim.namespace or 'default'}/{pod_name}"
        for predicted, (pod, name) in list(self.predicted.items()):
            if pod != owner or name != claim_name:
                continue
            record = self.cache.claims.get(predicted)
            if record is not None and record.results:
                self.state.predictions += 1
                written = {r.device_id for r in device_results(claim.status.allocation)}
                if written != {r.device_id for r in record.results}:
                    self.state.mismatches += 1
            self.drop_predicted(predicted)
