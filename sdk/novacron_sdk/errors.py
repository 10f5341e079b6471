"""Errors that carry an HTTP meaning, so every layer can fail precisely and the API maps them once.

Each error names the field it concerns (a dotted path such as `disks.0.base_image`) where there is
one; the API turns it into an RFC 7807 problem document.
"""

from __future__ import annotations


class NovacronError(Exception):
    """Base class. `status` is the HTTP status the API answers with."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {detail}" if field else detail)
        self.detail = detail
        self.field = field


class InvalidInput(NovacronError):
    """The request is well-formed but names something impossible (missing image, unknown network)."""

    status = 422
    title = "Invalid input"


class Forbidden(NovacronError):
    """The caller is who it says, but its credential does not allow this call (scope, node, route)."""

    status = 403
    title = "Forbidden"


class NotFound(NovacronError):
    status = 404
    title = "Not found"


class Conflict(NovacronError):
    """The request contradicts current state (needs recreate, VM busy, owned elsewhere)."""

    status = 409
    title = "Conflict"


class StateTimeout(NovacronError):
    """A state change did not reach its target in time; `detail` says where it got stuck."""

    status = 504
    title = "State change timed out"


class HypervisorError(NovacronError):
    """libvirt refused or failed; the message is libvirt's, prefixed with what we were doing."""

    status = 502
    title = "Hypervisor error"


class Unavailable(NovacronError):
    status = 503
    title = "Unavailable"
