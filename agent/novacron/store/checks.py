"""What may be stored: records are checked with the same pydantic models as the API's input.

A record that enters the store must be one the API would have accepted (a VM's spec and applied
spec are `VirtualMachineSpec`s, a migration is a `Migration`); a record read back that no longer is
(edited by hand, written by a buggy or older agent) is quarantined by the store instead of
breaking every reader of it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from novacron.store.records import VmRecord
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.node import NODE_ID_PATTERN
from novacron_sdk.models.vm import VirtualMachineSpec
from novacron_sdk.validation import describe_errors

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NODE_RE = re.compile(NODE_ID_PATTERN)


class RecordProblem(ValueError):
    """One thing wrong with a record: `field` is its dotted path inside the record."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _spec(doc: Any, field: str, name: str) -> None:
    try:
        spec = VirtualMachineSpec.model_validate(doc)
    except ValidationError as exc:
        first = describe_errors(exc, (field,))[0]
        raise RecordProblem(first["field"], first["message"]) from None
    if spec.name != name:
        raise RecordProblem(f"{field}.name", f"{spec.name!r} is not the record's name {name!r}")


def check_vm(rec: VmRecord) -> None:
    """Raise RecordProblem unless `rec` is a VM record the API could have written."""
    _spec(rec.spec, "spec", rec.name)
    if rec.applied is not None:
        _spec(rec.applied, "applied", rec.name)
    if rec.uuid is not None and not UUID_RE.match(rec.uuid):
        raise RecordProblem("uuid", "must be a UUID")
    if not NODE_RE.match(rec.node):
        raise RecordProblem("node", "must be a node id")


def check_migration(doc: Any, mig_id: str | None = None) -> Migration:
    """The stored migration document as a Migration, or RecordProblem."""
    try:
        m = Migration.model_validate(doc)
    except ValidationError as exc:
        first = describe_errors(exc)[0]
        raise RecordProblem(first["field"], first["message"]) from None
    if mig_id is not None and m.id != mig_id:
        raise RecordProblem("id", f"{m.id!r} is not the record's id {mig_id!r}")
    return m
