"""A kubeconfig for a served endpoint: one cluster, one user, one current context.

The user carries a dummy bearer token (the facade does no authentication; clients that
insist on credentials are satisfied). Written atomically (a temporary file renamed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulator.atomic import write_atomic

CONTEXT = "tessera"


def kubeconfig(server: str, *, name: str = CONTEXT, namespace: str = "default") -> dict[str, Any]:
    """The kubeconfig document for ``server`` (``http://127.0.0.1:PORT``)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": {"token": "tessera"}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
        ],
        "current-context": name,
    }


def write_kubeconfig(path: str | Path, server: str, *, name: str = CONTEXT) -> Path:
    """Write the kubeconfig for ``server`` to ``path`` all-or-nothing
    (:func:`simulator.atomic.write_atomic`; parents created); returns the path. An
    ``OSError`` names ``path``."""
    path = Path(path)
    write_atomic(path, yaml.safe_dump(kubeconfig(server, name=name), sort_keys=False))
    return path
