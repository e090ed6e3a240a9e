"""TLS to the extender as ``makeTransport`` sets it up: enableHTTPS, caFile/caData, serverName."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler.extender.config import ExtenderConfig
from simulator.kubescheduler.http_extender import ExtenderError, HTTPExtender
from tests.extender.scripted_server import ExtenderServer, start_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")

NODE = {"metadata": {"name": "n1"}}
POD = {"metadata": {"name": "p", "namespace": "default", "uid": "u"}}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``extender.test`` and 127.0.0.1, and its key."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=extender.test"),
            *("-addext", "subjectAltName=DNS:extender.test,IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(certificate: tuple[Path, Path]) -> Iterator[ExtenderServer]:
    """An HTTPS extender that answers every filter with node n1."""
    server = ExtenderServer()
    stop = start_server(server, ssl_certfile=str(certificate[0]), ssl_keyfile=str(certificate[1]))
    server.reply("/ext/filter", {"NodeNames": ["n1"], "Error": ""})
    yield server
    stop()


def _filter(server: ExtenderServer, **fields: Any) -> tuple[str, ...]:
    config = ExtenderConfig.model_validate(
        {
            "urlPrefix": server.url + "/ext",
            "filterVerb": "filter",
            "nodeCacheCapable": True,
            **fields,
        }
    )
    with HTTPExtender(config) as ext:
        return ext.filter(POD, [NODE]).names


def test_enable_https_without_a_ca_does_not_verify(tls_server: ExtenderServer) -> None:
    """enableHTTPS with neither caFile nor caData: the self-signed certificate is accepted."""
    assert _filter(tls_server, enableHTTPS=True) == ("n1",)


def test_a_ca_file_verifies_the_server(
    tls_server: ExtenderServer, certificate: tuple[Path, Path]
) -> None:
    """caFile makes the client verify the server (127.0.0.1 is in the certificate)."""
    assert _filter(tls_server, enableHTTPS=True, tlsConfig={"caFile": str(certificate[0])}) == (
        "n1",
    )


def test_ca_data_and_server_name(
    tls_server: ExtenderServer, certificate: tuple[Path, Path]
) -> None:
    """caData (base64 PEM) is trusted; serverName is the name the certificate is checked for."""
    ca_data = base64.b64encode(certificate[0].read_bytes()).decode()
    tls = {"caData": ca_data, "serverName": "extender.test"}
    assert _filter(tls_server, tlsConfig=tls) == ("n1",)
    with pytest.raises(ExtenderError, match="CERTIFICATE_VERIFY_FAILED"):
        _filter(tls_server, tlsConfig={"caData": ca_data, "serverName": "other.test"})


def test_without_tls_settings_system_roots_reject_a_self_signed_server(
    tls_server: ExtenderServer,
) -> None:
    """No enableHTTPS, no tlsConfig, an https URL: verified against system roots, so it fails."""
    with pytest.raises(ExtenderError, match="CERTIFICATE_VERIFY_FAILED"):
        _filter(tls_server)


def test_insecure_with_a_ca_is_refused_at_startup(certificate: tuple[Path, Path]) -> None:
    """client-go refuses ``insecure`` together with a CA; so does the client's construction."""
    config = ExtenderConfig.model_validate(
        {"urlPrefix": "https://x", "tlsConfig": {"insecure": True, "caFile": str(certificate[0])}}
    )
    with pytest.raises(ValueError, match="insecure flag is not allowed"):
        HTTPExtender(config)
