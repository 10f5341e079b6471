"""One two-node cluster and one guest image per test module (booting hosts and guests is the
expensive part); tests leave the VMs running somewhere and find them with `cluster.where()`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.migration.cluster import Cluster, start_cluster
from tests.tooling.guest import GuestImage, build_guest, guest_skip_reason
from tests.tooling.libvirtd import libvirt_skip_reason
from tests.tooling.netns import testbed_skip_reason


def skip_reason() -> str | None:
    return libvirt_skip_reason() or testbed_skip_reason() or guest_skip_reason()


@pytest.fixture(scope="module")
def guest() -> GuestImage:
    if reason := skip_reason():
        pytest.skip(reason)
    return build_guest()


@pytest.fixture(scope="module")
def cluster(guest: GuestImage) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="nc-mig-", dir="/var/tmp"))
    # node-b accepts at most 400 MiB per VM: the capacity test moves a bigger one there.
    # bandwidth probes every 10 s (30 s by default): a link change reaches DWCP's choices sooner
    c = start_cluster(root, node_overrides={"node-b": {"hypervisor": {"max_memory_mib": 400}}},
                      dwcp={"probe": {"bandwidth_interval_s": 10.0}})
    try:
        yield c
    finally:
        c.close()
