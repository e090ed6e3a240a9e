"""``/openapi/v2`` as the protobuf ``openapi.v2.Document`` older kubectl versions download.

kubectl up to about 1.29 fetches the OpenAPI v2 document (protobuf, ``Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf``) before ``create`` and reads
from it only whether each kind's PATCH operation takes a ``fieldValidation`` query parameter
(``staging/src/k8s.io/cli-runtime/pkg/resource/query_param_verifier.go``); when it does,
validation is left to the server. This module encodes exactly that document — per served
resource, a path whose PATCH operation has the ``x-kubernetes-group-version-kind`` vendor
extension (YAML, as upstream) and a ``fieldValidation`` query parameter — with the field
numbers of gnostic's ``openapiv2/OpenAPIv2.proto``. It carries no schema definitions.
"""

from __future__ import annotations

from simulator.apiserver.resources import ResourceTable


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | str) -> bytes:
    """A length-delimited field (strings, bytes, embedded messages)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint((number << 3) | 2) + _varint(len(data)) + data


def _patch_operation(group: str, version: str, kind: str) -> bytes:
    # QueryParameterSubSchema{in=2, name=4, type=6} in NonBodyParameter{query=3} in
    # Parameter{non_body_parameter=2} in ParametersItem{parameter=1}
    query = _field(2, "query") + _field(4, "fieldValidation") + _field(6, "string")
    parameter = _field(1, _field(2, _field(3, query)))
    # Responses{response_code=1: NamedResponseValue{name=1, value=2: ResponseValue{response=1:
    # Response{description=1}}}}
    responses = _field(1, _field(1, "200") + _field(2, _field(1, _field(1, "OK"))))
    gvk = f'group: "{group}"\nkind: {kind}\nversion: {version}\n'
    extension = _field(1, "x-kubernetes-group-version-kind") + _field(2, _field(2, gvk))
    # Operation{operation_id=5, parameters=8, responses=9, vendor_extension=13}
    return (
        _field(5, f"patch{kind}")
        + _field(8, parameter)
        + _field(9, responses)
        + _field(13, extension)
    )


def openapi_v2_document(table: ResourceTable) -> bytes:
    """The encoded ``openapi.v2.Document`` (see the module docstring)."""
    paths = b""
    for r in table.resources:
        base = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
        path = (
            f"{base}/namespaces/{{namespace}}/{r.name}/{{name}}"
            if r.namespaced
            else f"{base}/{r.name}/{{name}}"
        )
        item = _field(8, _patch_operation(r.group, r.version, r.kind))  # PathItem{patch=8}
        paths += _field(2, _field(1, path) + _field(2, item))  # Paths{path=2: NamedPathItem}
    info = _field(1, "Kubernetes") + _field(2, "v1.35.0")
    # Document{swagger=1, info=2, paths=8, definitions=9}
    return _field(1, "2.0") + _field(2, info) + _field(8, paths) + _field(9, b"")


PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""The Content-Type kube-openapi answers with (Go's mime parser rejects the "@" form)."""
