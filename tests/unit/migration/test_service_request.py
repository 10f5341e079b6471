"""MigrationService.create answers once the destination has prepared; a client that goes away
meanwhile does not untrack the migration it started (it goes on, and keeps the VM reserved).
A real service on libvirt's test driver; the migration itself runs on fakes (fakes.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from novacron.config.model import AgentConfig
from novacron.hypervisor.driver import HypervisorDriver
from novacron.migration import service as service_module
from novacron.migration.outgoing import OutgoingMigration
from novacron.migration.plan import SourcePlan
from novacron.migration.service import MigrationService
from novacron.migration.source_core import SourceCore
from novacron.store import VmRecord, open_store
from novacron.vms.service import VmService
from novacron_sdk.errors import Conflict
from novacron_sdk.models.migration import Migration, MigrationRequest
from novacron_sdk.models.peer import VmTransfer
from tests.tooling.wait import until_async
from tests.unit.migration.fakes import Fakes
from tests.unit.peer.harness import TEST_NODE, make_pki

pytestmark = pytest.mark.asyncio
VM = "test"  # the test driver's running domain


@pytest_asyncio.fixture
async def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[MigrationService, Fakes]]:
    pki = make_pki(tmp_path / "pki", ("node-a", "node-b"))
    leaf = pki.leaves["node-a"]
    config = AgentConfig.model_validate({
        "system": {"node_id": "node-a", "data_dir": str(tmp_path / "data")},
        "hypervisor": {"uri": f"test://{TEST_NODE}"},
        "dwcp": {"tls_cert": str(leaf.cert), "tls_key": str(leaf.key), "tls_ca": str(pki.ca)},
        "peers": [{"node_id": "node-b", "api_url": "http://node-b.invalid:8080", "dwcp_address": "127.0.0.1:9"}],
    })  # fmt: skip
    driver = HypervisorDriver(config.hypervisor, "node-a", config.system.data_dir)
    driver.open()
    store = open_store(f"sqlite:///{tmp_path / 'novacron.db'}")
    store.put_vm(VmRecord(name=VM, spec={"name": VM, "memory_mib": 64}, applied=None, uuid=None, node="node-a"))
    vms = VmService(driver, store, config)
    svc = MigrationService(config, store, driver, vms, None)
    fakes = Fakes()

    def outgoing(d: Any, m: Migration, record: VmTransfer, predictor: Any = None) -> OutgoingMigration:
        return OutgoingMigration(fakes.io(), SourceCore(m, SourcePlan(timeout_s=600, share_ms=150)), record)

    monkeypatch.setattr(service_module, "outgoing_migration", outgoing)
    yield svc, fakes
    await svc.d.peers.close()
    svc.d.pool.shutdown(wait=False)
    vms.close()
    store.close()
    driver.close()


async def test_a_client_gone_mid_prepare_does_not_untrack_the_migration(source: tuple[MigrationService, Fakes]
                                                                       ) -> None:  # fmt: skip
    svc, f = source
    f.peers.prepare_gate = asyncio.Event()
    request = asyncio.create_task(svc.create(MigrationRequest(vm=VM, destination="node-b")))
    await until_async("the prepare call", lambda: "peers.prepare(port=5000)" in f.journal)
    request.cancel()  # the client went away
    with contextlib.suppress(asyncio.CancelledError):
        await request
    (mig_id,) = svc.active
    with pytest.raises(Conflict):  # still reserved: no second migration of the VM meanwhile
        await svc.create(MigrationRequest(vm=VM, destination="node-b"))
    f.peers.prepare_gate.set()
    await until_async("libvirt's call", lambda: "libvirt.migrate" in f.journal)
    f.libvirt.finish()
    await until_async("the migration to end", lambda: not svc.active)
    assert f.records.stored[mig_id].phase == "completed"


async def test_a_refused_request_is_untracked_and_answered_with_the_refusal(source: tuple[MigrationService, Fakes]
                                                                           ) -> None:  # fmt: skip
    svc, f = source
    f.peers.refuse_prepare = Conflict("node-b: destination node-b lacks capacity", field="destination")
    with pytest.raises(Conflict) as err:
        await svc.create(MigrationRequest(vm=VM, destination="node-b"))
    assert err.value is f.peers.refuse_prepare and svc.active == {} and f.records.stored == {}
