"""The KubeSchedulerConfigurations of both layouts are valid for kube-scheduler and agree with
the rest of the deployment: extender entries validated with tessera's model of upstream
validation (scheduler/extender/config.py), the whole document with tessera's
KubeSchedulerConfiguration reader when this tree has it, and every address, port, prefix and
timeout matched against the containers that serve them."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from scheduler.api.duration import NANOSECONDS_PER_SECOND, parse_go_duration
from scheduler.extender.config import (
    ExtenderConfig,
    ExtenderSettings,
    call_order,
    num_feasible_nodes_to_find,
)
from simulator.kubescheduler.http_extender import is_interested
from tests.deploy.manifests import (
    CONTROL_PLANE_CONFIG,
    container_args,
    control_plane_config,
    deploy_objects,
    example_objects,
    find,
    pod_templates,
    scheduler_config,
    scheduler_config_text,
    tls_objects,
)

FULL_READER = "scheduler.api.kubeschedulerconfig"
IN_TREE_SCORE_MAX = 1200
"""Sum of the default in-tree Score weights (3+2+2+2+1+1+1) x MaxNodeScore 100."""


def settings(config: dict[str, Any]) -> ExtenderSettings:
    """The extender fields of a configuration, decoded strictly and validated."""
    extender_keys = ("extenders", "percentageOfNodesToScore")
    decoded = ExtenderSettings.model_validate({k: config[k] for k in extender_keys if k in config})
    decoded.check()
    return decoded


def sidecar_container(name: str) -> dict[str, Any]:
    """A container of the sidecar layout's pod (init containers included)."""
    spec = find(deploy_objects(), "Deployment", "tessera-scheduler")["spec"]["template"]["spec"]
    return next(c for c in [*spec["initContainers"], *spec["containers"]] if c["name"] == name)


def tls_container() -> dict[str, Any]:
    """The tessera container of the TLS layout."""
    spec = find(tls_objects(), "Deployment", "tessera-extender")["spec"]["template"]["spec"]
    return dict(spec["containers"][0])


def seconds(duration: str) -> float:
    """A Go duration string in seconds."""
    return parse_go_duration(duration) / NANOSECONDS_PER_SECOND


CONFIGS = {"sidecar": scheduler_config, "tls": control_plane_config}


@pytest.mark.parametrize("layout", CONFIGS)
def test_extenders_pass_kube_scheduler_validation(layout: str) -> None:
    """Both extender entries decode strictly and pass upstream's validateExtenders."""
    decoded = settings(CONFIGS[layout]())
    assert len(decoded.extenders) == 2


@pytest.mark.parametrize("layout", CONFIGS)
def test_placement_entry_is_fast_non_ignorable_and_outweighs_in_tree_scoring(layout: str) -> None:
    """Entry 1: filter, prioritize and preempt on node names; short timeout; not ignorable
    (a skipped filter would let kube-scheduler place gang members where tessera would not);
    its full score range (10 x weight x 10) exceeds the default in-tree range."""
    placement = settings(CONFIGS[layout]()).extenders[0]
    assert (placement.filter_verb, placement.prioritize_verb, placement.preempt_verb) == (
        "filter",
        "prioritize",
        "preempt",
    )
    assert not placement.bind_verb
    assert placement.node_cache_capable
    assert not placement.ignorable
    assert placement.timeout_seconds is not None and placement.timeout_seconds <= 5
    assert 10 * placement.weight * 10 > IN_TREE_SCORE_MAX
    assert not placement.managed_resources


@pytest.mark.parametrize("layout", CONFIGS)
def test_bind_entry_is_long_and_never_ignorable(layout: str) -> None:
    """Entry 2: bind only, never ignorable, its timeout longer than the filter's and than
    tessera's gang hold deadline (--gang-hold-timeout of the serving container)."""
    decoded = settings(CONFIGS[layout]())
    placement, binder = decoded.extenders
    assert binder.bind_verb == "bind"
    assert not (binder.filter_verb or binder.prioritize_verb or binder.preempt_verb)
    assert not binder.ignorable
    assert not binder.managed_resources
    container = sidecar_container("tessera") if layout == "sidecar" else tls_container()
    hold = seconds(container_args(container)["gang-hold-timeout"])
    assert binder.timeout_seconds is not None and placement.timeout_seconds is not None
    assert placement.timeout_seconds < hold < binder.timeout_seconds
    assert call_order(decoded.extenders) == decoded.extenders


@pytest.mark.parametrize("layout", CONFIGS)
def test_filter_sees_every_feasible_node(layout: str) -> None:
    """percentageOfNodesToScore 100: at 5,000 nodes the filter sees all of them, not 500."""
    decoded = settings(CONFIGS[layout]())
    assert decoded.percentage == 100
    assert num_feasible_nodes_to_find(decoded.percentage, 5000) == 5000


def test_sidecar_extenders_call_the_sidecar_on_loopback() -> None:
    """Both sidecar entries post to http://127.0.0.1:<--port><--prefix>/ of the tessera
    container, which listens on 127.0.0.1 only."""
    args = container_args(sidecar_container("tessera"))
    assert args["host"] == "127.0.0.1"
    for entry in settings(scheduler_config()).extenders:
        url = urlsplit(entry.url("filter"))
        assert (url.scheme, url.hostname, url.port) == ("http", "127.0.0.1", int(args["port"]))
        assert url.path == args["prefix"].rstrip("/") + "/filter"
        assert not entry.enable_https and entry.tls_config is None


def test_tls_extenders_verify_tessera_through_its_service() -> None:
    """Both TLS entries post over HTTPS to the Service's DNS name and port, verify the
    server certificate against a CA under the same name, and present a client certificate;
    the Service forwards to the tessera container's --port."""
    objects = tls_objects()
    service = find(objects, "Service", "tessera-extender")
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    (port,) = service["spec"]["ports"]
    container = tls_container()
    args = container_args(container)
    target = next(p for p in container["ports"] if p["name"] == port["targetPort"])
    assert target["containerPort"] == int(args["port"])
    for entry in settings(control_plane_config()).extenders:
        url = urlsplit(entry.url("bind"))
        assert (url.scheme, url.hostname, url.port) == ("https", host, port["port"])
        assert url.path == args["prefix"].rstrip("/") + "/bind"
        assert entry.enable_https
        assert entry.tls_config is not None
        assert entry.tls_config.has_ca and not entry.tls_config.insecure
        assert entry.tls_config.server_name == host
        assert entry.tls_config.cert_file and entry.tls_config.key_file
    for flag in ("tls-cert-file", "tls-private-key-file", "client-ca-file"):
        assert args[flag].startswith("/etc/tessera/tls/")


def test_profiles_name_the_scheduler_the_examples_ask_for() -> None:
    """The sidecar scheduler has one profile, tessera, and every example pod asks for it;
    the TLS layout keeps the default scheduler's profile."""
    assert [p["schedulerName"] for p in scheduler_config()["profiles"]] == ["tessera"]
    assert [p["schedulerName"] for p in control_plane_config()["profiles"]] == ["default-scheduler"]
    for manifest in example_objects():
        for path, template in pod_templates(manifest):
            assert template["spec"].get("schedulerName") == "tessera", f"{manifest.where} {path}"


def test_every_example_pod_is_sent_to_both_extenders() -> None:
    """IsInterested holds for every example pod (DRA pods carry no extended resource, so an
    entry with managedResources would never see them)."""
    entries = settings(scheduler_config()).extenders
    for manifest in example_objects():
        for path, template in pod_templates(manifest):
            pod = {"spec": template["spec"]}
            assert all(is_interested(entry, pod) for entry in entries), f"{manifest.where} {path}"


def test_kube_scheduler_reads_the_mounted_configuration() -> None:
    """kube-scheduler's --config is the ConfigMap's key at the volume's mount path."""
    container = sidecar_container("kube-scheduler")
    config = Path(container_args(container)["config"])
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == config.parent)
    spec = find(deploy_objects(), "Deployment", "tessera-scheduler")["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    config_map = find(deploy_objects(), "ConfigMap", volume["configMap"]["name"])
    assert config.name in config_map["data"]


def test_a_misspelt_extender_field_is_rejected() -> None:
    """The strict decoding used above refuses enableHttps (the check can fail)."""
    with pytest.raises(ValueError, match="enableHttps"):
        ExtenderConfig.model_validate({"urlPrefix": "https://x", "enableHttps": True})


@pytest.mark.parametrize("layout", CONFIGS)
def test_whole_document_loads_with_tessera_reader(layout: str, tmp_path: Path) -> None:
    """tessera's KubeSchedulerConfiguration reader accepts the whole file (profiles, leader
    election, client connection, extenders) as kube-scheduler would."""
    reader = importlib.import_module(FULL_READER)
    if layout == "sidecar":
        path = tmp_path / "config.yaml"
        path.write_text(scheduler_config_text(), encoding="utf-8")
    else:
        path = CONTROL_PLANE_CONFIG
    try:
        config = reader.load_scheduler_config(path)
    except ValueError as err:
        pytest.fail(f"{FULL_READER} rejects the {layout} KubeSchedulerConfiguration: {err}")
    expected = "tessera" if layout == "sidecar" else "default-scheduler"
    assert [p.scheduler_name for p in config.profiles] == [expected]
