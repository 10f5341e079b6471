"""MigrationService: the migration resource (create, dry run, read, cancel), finding a VM in the
cluster, the peer endpoints of the destination half, and the DWCP listener that carries the bytes.

One service plays both roles: the source of the migrations it was asked for (outgoing.py) and the
destination of those its peers send (incoming.py). Validation happens before the 202 answer, the
destination's capacity included, so a refused request changes nothing anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from novacron.auth.node_assertion import NodeSigner
from novacron.config.model import AgentConfig
from novacron.dwcp.admission import MAX_UNAUTHENTICATED, MAX_UNAUTHENTICATED_PER_SOURCE, Limits
from novacron.migration import libvirt_ops as lv
from novacron.migration import plan as planning
from novacron.migration import validate
from novacron.migration.carrier import Carrier
from novacron.migration.deps import Deps, now
from novacron.migration.incoming import IncomingSide
from novacron.migration.listener import MigrationListener
from novacron.migration.machine import DomainState
from novacron.migration.metrics import MigrationMetrics
from novacron.migration.outgoing import OutgoingMigration
from novacron.migration.peer import PeerClient
from novacron.migration.recovery import recover_all
from novacron.migration.wire import ChannelHeader
from novacron.migration.wiring import outgoing_migration, restarted_migration
from novacron.store import Store, VmRecord
from novacron.transport import ChannelReader, make_tls_contexts
from novacron_sdk.errors import Conflict, NotFound, Unavailable
from novacron_sdk.models.migration import Migration, MigrationRequest
from novacron_sdk.models.peer import PeerPrepare, PeerVm, VmTransfer

log = logging.getLogger(__name__)
CANCEL_WAIT_S = 30.0
# Link rate assumed for a first estimate, before any migration to that peer was measured (Mbit/s).
_DEFAULT_LINK_MBPS = {"datacenter": 2000.0, "hybrid": 1000.0, "internet": 200.0}


def admission_limits(config: AgentConfig) -> Limits:
    """A peer dials all of a channel's streams at once: the per-source bound must admit them."""
    per_source = max(MAX_UNAUTHENTICATED_PER_SOURCE, config.dwcp.transport.max_streams + 8)
    return Limits(per_source=per_source, total=max(MAX_UNAUTHENTICATED, 2 * per_source))


def _predictor() -> Any:
    """The PBA's run-time predictor for one link (its ML model, or its best baseline)."""
    from novacron.dwcp.pba import make_predictor

    return make_predictor(enable_ml=True)


class MigrationService:
    def __init__(
        self, config: AgentConfig, store: Store, driver: Any, vms: Any, mode: Any, registry: Any = None
    ) -> None:
        dw = config.dwcp
        tls = make_tls_contexts(dw.tls_ca, dw.tls_cert, dw.tls_key) if dw.tls_ca and dw.tls_cert and dw.tls_key else None
        pool = ThreadPoolExecutor(config.system.max_concurrency + 4, thread_name_prefix="migrate")
        signer = NodeSigner.load(config.system.node_id, dw.tls_cert, dw.tls_key) if tls is not None else None
        self.d = Deps(config, store, driver, vms, mode, PeerClient(config, signer), tls,
                      MigrationMetrics(registry), pool)  # fmt: skip
        self.incoming = IncomingSide(self.d)
        self.active: dict[str, OutgoingMigration] = {}
        self._moving: dict[str, str] = {}  # vm -> migration id, reserved before the first await
        self._predictors: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.listener: MigrationListener | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> None:
        """Open the DWCP listener (when TLS is configured) and recover unfinished migrations."""
        if self.d.tls is not None and port:
            self.listener = MigrationListener(host, port, self.d.tls.server, self.dispatch, self.dispatch_pipe,
                                              limits=admission_limits(self.d.config))  # fmt: skip
            await self.listener.start()
        elif port:
            log.warning("dwcp.tls_* not configured: this node can neither send nor receive migrations")
        self._spawn(recover_all(self.d, self.incoming, lambda m: restarted_migration(self.d, m), self.active))
        self._spawn(self.incoming.sweep_forever())

    async def stop(self) -> None:
        for om in list(self.active.values()):
            with contextlib.suppress(Exception):
                om.cancel()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=15)
        if self.listener is not None:
            await self.listener.close()
        await self.incoming.close()
        await self.d.peers.close()
        self.d.pool.shutdown(wait=False, cancel_futures=True)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def dispatch(self, header: ChannelHeader, reader: ChannelReader, first: bytes) -> str | None:
        if header.direction not in ("fwd", "back"):
            return f"a {header.direction!r} header on an AMST channel"
        if header.direction == "fwd":
            return self.incoming.dispatch(header, reader, first)
        carrier, why = self._outgoing(header, reader.peer_names())
        if carrier is None:
            return why
        return carrier.attach_back(header.conn, reader, first)

    def dispatch_pipe(self, header: ChannelHeader, tls: ssl.SSLSocket, peer: str | None) -> str | None:
        if header.direction in ("pipe", "pipe-hde"):
            return self.incoming.dispatch_pipe(header, tls, peer)
        if header.direction != "pipe-back":
            return f"a {header.direction!r} header on a pipe"
        carrier, why = self._outgoing(header, {peer} if peer else set())
        if carrier is None:
            return why
        return carrier.attach_pipe_back(header.conn, tls)

    def _outgoing(self, header: ChannelHeader, peers: set[str]) -> tuple[Carrier | None, str | None]:
        """The carrier of an outgoing migration, for a return channel that its destination opened."""
        om = self.active.get(header.migration)
        carrier = om.carrier if om is not None else None
        if om is None or carrier is None:
            return None, f"no outgoing migration {header.migration} on {self.d.node_id}"
        if peers != {om.m.destination}:
            return None, f"the return channel of {header.migration} comes from {sorted(peers)}, not {om.m.destination}"
        return carrier, None

    # -- the resource ---------------------------------------------------------------------------
    async def create(self, req: MigrationRequest, *, dry_run: bool = False) -> Migration:
        d = self.d
        validate.check_destination(d.config, req)
        profile, flags = d.profile_and_flags()
        options = planning.resolve_multifd(req.options, profile, flags, d.link_mbps(req.destination))
        req = req.model_copy(update={"options": options})  # the migration shows what was chosen
        rec, state = await d.run(self._vm_facts, req.vm)
        validate.check_vm(req, rec, d.node_id, state, self._moving.get(req.vm))
        assert rec is not None
        spec = rec.applied or rec.spec
        mig_id = ("dry-run-" if dry_run else "") + uuid.uuid4().hex[:12]
        m = Migration(
            id=mig_id, vm=req.vm, source=d.node_id, destination=req.destination, options=req.options,
            created_at=now(), predicted_duration_s=self._predict(req, int(spec.get("memory_mib") or 512)),
        )  # fmt: skip
        record = VmTransfer.model_validate({"spec": rec.spec, "applied": rec.applied, "uuid": rec.uuid})
        if dry_run:  # the destination checks it too, and keeps nothing
            body = PeerPrepare(migration=m, memory_mib=record.spec.memory_mib, vcpus=record.spec.vcpus, dry_run=True)
            await d.peers.prepare(req.destination, mig_id, body)
            return m
        use_pba = d.profile_and_flags()[1].prediction
        om = outgoing_migration(d, m, record, self._predictors.setdefault(req.destination, _predictor()) if use_pba else None)
        self._moving[req.vm] = mig_id  # reserved before the first await
        self.active[mig_id] = om
        task = self._spawn(om.run())
        task.add_done_callback(lambda _t: self._finished(om))
        try:  # answered once the destination has prepared: its refusal is this request's error
            await asyncio.shield(om.prepared)
        except Exception:  # refused (run() has discarded it); a request that went away is not: it goes on
            self._finished(om)
            raise
        return om.m

    def _finished(self, om: OutgoingMigration) -> None:
        self.active.pop(om.m.id, None)
        if self._moving.get(om.m.vm) == om.m.id:
            del self._moving[om.m.vm]

    def _vm_facts(self, name: str) -> tuple[VmRecord | None, DomainState]:
        return self.d.store.get_vm(name), lv.domain_state(self.d.driver.conn, name)

    def _predict(self, req: MigrationRequest, memory_mib: int) -> float:
        profile, flags = self.d.profile_and_flags()
        mbps = float(req.options.bandwidth_limit_mbps or 0)
        pred = self._predictors.get(req.destination)
        if not mbps and pred is not None and flags.prediction:
            mbps = pred.predict(30.0)
        mbps = mbps or _DEFAULT_LINK_MBPS.get(profile.mode, 1000.0)
        chan = planning.channel_plan(req.options, profile, flags)
        ratio = 2.0 if chan.hde or chan.multifd_compression else 1.0  # compressed by the agents or by QEMU
        return planning.predict_duration(memory_mib << 20, mbps * 1e6, ratio=ratio)

    async def get(self, mig_id: str) -> Migration:
        om = self.active.get(mig_id)
        if om is not None:
            return om.m
        m = await self.d.run(self.d.load, mig_id)
        if m is None:
            raise NotFound(f"no migration {mig_id!r} on {self.d.node_id}", field="id")
        return m

    async def list(self, vm: str | None = None) -> list[Migration]:
        docs = await self.d.run(lambda: self.d.store.list_migrations(vm=vm))
        return [self.active[x["id"]].m if x["id"] in self.active else Migration.model_validate(x) for x in docs]

    async def cancel(self, mig_id: str) -> Migration:
        om = self.active.get(mig_id)
        if om is None:
            m = await self.get(mig_id)
            if m.phase in ("failed", "cancelled"):
                return m
            raise Conflict(f"migration {mig_id} is {m.phase} and can no longer be cancelled", field="id")
        om.cancel()  # refused (Conflict) once the VM runs on the destination
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(om.done.wait(), CANCEL_WAIT_S)
        return om.m

    # -- finding a VM ---------------------------------------------------------------------------
    async def peer_vm(self, name: str) -> PeerVm:
        rec, state = await self.d.run(self._vm_facts, name)
        owned = rec is not None and rec.node == self.d.node_id
        if not owned and state == "missing":
            raise NotFound(f"no VM named {name!r} on {self.d.node_id}", field="vm")
        return PeerVm(vm=name, node=self.d.node_id, state=state, owned=owned)

    async def locate(self, name: str, own_url: str) -> dict[str, Any]:
        with contextlib.suppress(NotFound):
            here = await self.peer_vm(name)
            if here.owned:
                return {"vm": name, "node": self.d.node_id, "api_url": own_url}
        peers = self.d.peers.peers()
        answers = await asyncio.gather(*(self.d.peers.vm(p.node_id, name, timeout=10) for p in peers),
                                       return_exceptions=True)  # fmt: skip
        found = [(p, a) for p, a in zip(peers, answers, strict=True) if isinstance(a, PeerVm)]
        if found:
            p, _ = min(found, key=lambda pa: (not pa[1].owned, pa[1].state != "running"))
            return {"vm": name, "node": p.node_id, "api_url": p.api_url}
        down = [p.node_id for p, a in zip(peers, answers, strict=True) if isinstance(a, Unavailable)]
        extra = f" ({', '.join(down)} did not answer)" if down else ""
        raise NotFound(f"no VM named {name!r} on {self.d.node_id} or any of its peers{extra}", field="vm")
