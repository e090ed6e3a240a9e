"""``meta/v1`` Status error bodies and the :class:`ApiError` that carries them.

Every failed request is answered with a Status object, as kube-apiserver does
(``k8s.io/apimachinery/pkg/api/errors``): ``kind: Status``, ``status: Failure``, a
``message``, a ``reason`` (NotFound, AlreadyExists, Conflict, Invalid, Gone, Expired,
BadRequest, MethodNotAllowed, NotAcceptable, UnsupportedMediaType, Timeout), ``details``
(name, group, kind, causes) and the HTTP ``code``. The helpers below build the messages
with upstream's wording so that clients that match on them (kubectl prints the message;
client-go and the Python client switch on code and reason) behave as against a real server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.apiserver.resources import Resource


class ApiError(Exception):
    """A request failed with the given HTTP ``code`` and Status ``reason``.

    Raised anywhere in request handling; the app turns it into a Status response (or an
    ``ERROR`` watch event). Never raised for a bug: those are 500s by construction.
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.metadata = metadata or {}

    def status(self) -> dict[str, Any]:
        """The ``meta/v1`` Status body."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _qualified(resource: Resource | str) -> str:
    """``pods`` or ``resourceclaims.resource.k8s.io`` (upstream's ``GroupResource.String``)."""
    if isinstance(resource, str):
        return resource
    return f"{resource.name}.{resource.group}" if resource.group else resource.name


def _details(resource: Resource | str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if isinstance(resource, str):
        out["kind"] = resource
    else:
        if resource.group:
            out["group"] = resource.group
        out["kind"] = resource.name
    return out


def not_found(resource: Resource | str, name: str) -> ApiError:
    """404: ``pods "x" not found``."""
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(resource)} "{name}" not found',
        details=_details(resource, name),
    )


def already_exists(resource: Resource, name: str) -> ApiError:
    """409: ``pods "x" already exists``."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(resource)} "{name}" already exists',
        details=_details(resource, name),
    )


def conflict(resource: Resource | str, name: str, why: str) -> ApiError:
    """409: ``Operation cannot be fulfilled on pods "x": <why>``."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": {why}',
        details=_details(resource, name),
    )


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
"""Upstream's ``OptimisticLockErrorMsg``."""


def invalid(resource: Resource, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422: ``Pod "x" is invalid: field: problem``; ``causes`` are (reason, field, message)."""
    return invalid_kind(resource.group, resource.kind, name, causes)


def invalid_kind(group: str, kind: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid as upstream's ``NewInvalid``: the message names ``Kind.group`` and the
    object, then the field errors (``field: problem``; several are deduplicated and
    bracketed, as ``utilerrors.Aggregate``); each cause carries (reason, field, message)."""
    texts = list(dict.fromkeys(f"{f}: {m}" if f else m for _, f, m in causes))
    text = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [
        {"reason": r, "message": m, "field": f} if f else {"reason": r, "message": m}
        for r, f, m in causes
    ]
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details=details)


def shutting_down() -> ApiError:
    """429 TooManyRequests: kube-apiserver's answer while it shuts down with
    ``--shutdown-send-retry-after`` (``WithRetryAfter`` in k8s.io/apiserver
    ``pkg/server/filters``); a client retries the request after the delay, an informer
    watches again from where it was."""
    return ApiError(
        429,
        "TooManyRequests",
        "The apiserver is shutting down, please try again later.",
        details={"retryAfterSeconds": 1},
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(405, "MethodNotAllowed", message)


def not_acceptable(message: str) -> ApiError:
    """406 NotAcceptable (no representation the client accepts)."""
    return ApiError(406, "NotAcceptable", message)


def unsupported_media_type(content_type: str) -> ApiError:
    """415 UnsupportedMediaType."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/json-patch+json, "
        "application/merge-patch+json, application/strategic-merge-patch+json; "
        f'got "{content_type}"',
    )


def expired(message: str, *, list_continue: str | None = None) -> ApiError:
    """410 with reason Expired (a too old resourceVersion or continue token); a continue
    token for an inconsistent continuation goes into the Status's ``metadata.continue``."""
    return ApiError(
        410, "Expired", message, metadata={"continue": list_continue} if list_continue else None
    )


def too_large_resource_version(requested: int, current: int) -> ApiError:
    """504 Timeout: upstream's answer when a requested resourceVersion does not arrive in time."""
    return ApiError(
        504,
        "Timeout",
        f"Too large resource version: {requested}, current: {current}",
        details={
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )
