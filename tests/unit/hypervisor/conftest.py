"""A driver on a private libvirt test-driver host (see tests/unit/vms/libvirt_test_node.xml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from novacron.config.model import HypervisorConfig
from novacron.hypervisor.driver import HypervisorDriver

TEST_NODE = Path(__file__).resolve().parents[1] / "vms" / "libvirt_test_node.xml"


@pytest.fixture
def hv_cfg() -> HypervisorConfig:
    return HypervisorConfig(uri=f"test://{TEST_NODE}", max_vcpus=4, max_memory_mib=2048, shutdown_timeout_s=1)


@pytest.fixture
def driver(hv_cfg: HypervisorConfig, tmp_path: Path) -> Iterator[HypervisorDriver]:
    d = HypervisorDriver(hv_cfg, "node-t", tmp_path)
    d.open()
    yield d
    d.close()
