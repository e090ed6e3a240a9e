"""A kubeconfig for a served endpoint: one cluster, one user, one current context.

The user carries a dummy bearer token (the facade does no authentication; clients that
insist on credentials are satisfied). Written atomically (a temporary file renamed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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
    """Write the kubeconfig for ``server`` to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(kubeconfig(server, name=name), sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return path
