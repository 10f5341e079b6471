"""A migration's records in this node's store (ports.Records): the migration itself, and the VM's
record as the two halves hand it over. Blocking calls."""

from __future__ import annotations

from novacron.migration.machine import TERMINAL
from novacron.store import Store
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import VmTransfer


class StoreRecords:
    def __init__(self, store: Store, node_id: str) -> None:
        self.store, self.node_id = store, node_id

    def save(self, m: Migration) -> None:
        self.store.put_migration(m.id, m.vm, m.phase, m.model_dump(mode="json"))

    def load(self, mig_id: str) -> Migration | None:
        doc = self.store.get_migration(mig_id)
        return Migration.model_validate(doc) if doc is not None else None

    def delete(self, mig_id: str) -> None:
        self.store.delete_migration(mig_id)

    def close(self, final: Migration) -> None:
        """What is stored now gets final's phase, error and finish time, unless it has a final phase
        already (the other half, or an adoption, may have closed it meanwhile)."""
        current = self.load(final.id) or final
        if current.phase not in TERMINAL:
            update = {"phase": final.phase, "error": final.error, "finished_at": final.finished_at}
            self.save(current.model_copy(update=update))

    def forget_vm(self, m: Migration) -> None:
        rec = self.store.get_vm(m.vm)
        if rec is not None and rec.node == self.node_id:
            self.store.delete_vm(m.vm)
        self.store.add_event("vm.migrated_out", m.vm, {"migration": m.id, "to": m.destination})

    def vm_transfer(self, vm: str) -> VmTransfer | None:
        rec = self.store.get_vm(vm)
        if rec is None:
            return None
        return VmTransfer.model_validate({"spec": rec.spec, "applied": rec.applied, "uuid": rec.uuid})
