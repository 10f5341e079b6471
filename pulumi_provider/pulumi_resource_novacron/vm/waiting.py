"""Waiting for a VM to reach its declared power state, and for a migration to finish."""

from __future__ import annotations

from novacron_sdk.client import NovacronClient
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.vm import VirtualMachine
from pulumi_resource_novacron.deadline import Deadline

POLL_S = 0.5
_DONE = {"completed", "failed", "cancelled"}


def vm_settled(client: NovacronClient, name: str, state: str, deadline: Deadline) -> VirtualMachine:
    """The VM once libvirt reports `state` (running/stopped/paused)."""
    while True:
        vm = client.get_vm(name)
        actual = vm.status.actual_state if vm else "missing"
        if vm is not None and actual == state:
            return vm
        deadline.sleep(POLL_S, f"waiting for VM {name!r} to be {state} (now {actual})")


def migration_done(client: NovacronClient, mig: Migration, deadline: Deadline) -> Migration:
    while mig.phase not in _DONE:
        pct = ""
        if mig.progress.bytes_total:
            pct = f", {100 * mig.progress.bytes_sent // mig.progress.bytes_total}% sent"
        deadline.sleep(POLL_S, f"waiting for migration {mig.id} of {mig.vm!r} ({mig.phase}{pct})")
        mig = client.get_migration(mig.id)
    return mig
