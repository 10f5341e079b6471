"""VmService on libvirt's test driver: every driver opens its own private in-memory hypervisor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from novacron.config.model import AgentConfig
from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store, open_store
from novacron.vms.service import VmService

TEST_NODE = Path(__file__).with_name("libvirt_test_node.xml")


@pytest.fixture
def cfg(tmp_path: Path) -> AgentConfig:
    # test:///<file> rather than test:///default: a private hypervisor per connection (see the file).
    return AgentConfig.model_validate(
        {
            "system": {"node_id": "node-a", "data_dir": str(tmp_path), "max_concurrency": 4},
            "hypervisor": {
                "uri": f"test://{TEST_NODE}",
                "max_vcpus": 8,
                "max_memory_mib": 4096,
                "shutdown_timeout_s": 2,
            },
        }
    )


@pytest.fixture
def driver(cfg: AgentConfig) -> Iterator[HypervisorDriver]:
    d = HypervisorDriver(cfg.hypervisor, cfg.system.node_id, cfg.system.data_dir)
    d.open()
    yield d
    d.close()


@pytest.fixture
def store() -> Iterator[Store]:
    s = open_store("sqlite://:memory:")
    yield s
    s.close()


@pytest_asyncio.fixture
async def svc(driver: HypervisorDriver, store: Store, cfg: AgentConfig) -> AsyncIterator[VmService]:
    s = VmService(driver, store, cfg)
    yield s
    s.close()


def snapshot(driver: HypervisorDriver, store: Store, data_dir: Path) -> dict[str, object]:
    """Everything a request could leave behind: domains, volumes, store rows, files."""
    import libvirt

    conn = driver.conn
    doms = {}
    for d in conn.listAllDomains(0):
        live = d.XMLDesc(0) if d.isActive() else None
        doms[d.name()] = (d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), live, d.state()[0], d.autostart())
    vols = {p.name(): sorted(v.name() for v in p.listAllVolumes(0)) for p in conn.listAllStoragePools(0)}
    recs = [(r.name, r.spec, r.applied, r.uuid, r.meta) for r in store.list_vms()]
    files = sorted(
        str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if not p.is_dir() or any(p.iterdir())
    )
    return {"domains": doms, "volumes": vols, "records": recs, "files": files}


@pytest.fixture
def snap(driver: HypervisorDriver, store: Store, cfg: AgentConfig):  # type: ignore[no-untyped-def]
    return lambda: snapshot(driver, store, cfg.system.data_dir)
