"""Waiting for a VM to reach its declared power state (a migration: `NovacronClient.wait_migration`)."""

from __future__ import annotations

from novacron_sdk.client import NovacronClient
from novacron_sdk.models.vm import VirtualMachine
from pulumi_resource_novacron.deadline import Deadline

POLL_S = 0.5


def vm_settled(client: NovacronClient, name: str, state: str, deadline: Deadline) -> VirtualMachine:
    """The VM once libvirt reports `state` (running/stopped/paused)."""
    while True:
        vm = client.get_vm(name)
        actual = vm.status.actual_state if vm else "missing"
        if vm is not None and actual == state:
            return vm
        deadline.sleep(POLL_S, f"waiting for VM {name!r} to be {state} (now {actual})")
