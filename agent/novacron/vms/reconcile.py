"""Start-up reconciliation: the store's memory of each VM against what libvirt reports now.

Nothing is silently rewritten: a VM libvirt lost is marked missing, a VM changed behind our back
keeps its stored spec and gets a `drift` event naming the fields, and a domain carrying our
metadata that the store forgot is adopted (recorded as it is) with an event saying so. Domains
without our metadata are not ours and are left alone.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store, VmRecord
from novacron.vms.diff import drift_fields, normalize_desired
from novacron.vms.ops import owned_volumes
from novacron.vms.view import spec_dict, stored_spec
from novacron_sdk.models.vm import VirtualMachineSpec


def _event(store: Store, finding: dict[str, Any]) -> dict[str, Any]:
    store.add_event("drift", finding["vm"], finding)
    return finding


def reconcile(driver: HypervisorDriver, store: Store) -> list[dict[str, Any]]:
    """Blocking; run once at start-up before requests are served. Returns the findings (one per
    VM: missing, changed, resolved, adopted, unadoptable), each also recorded as a "drift" event."""
    pool = driver.cfg.storage_pool
    findings: list[dict[str, Any]] = []
    records = {r.name: r for r in store.list_vms()}
    for name, rec in records.items():
        obs = driver.observe(name)
        if obs is None:
            if not rec.meta.get("missing"):
                rec.meta["missing"] = True
                store.put_vm(rec)
            findings.append(
                _event(
                    store,
                    {"vm": name, "kind": "missing", "detail": "in the store, but libvirt has no such domain"},
                )
            )
            continue
        stored = stored_spec(rec)
        observed = obs.spec(pool)
        fields = drift_fields(stored, observed) if stored is not None else []
        if rec.uuid and rec.uuid != obs.uuid:
            fields.insert(0, "uuid")
        if fields:
            expected = normalize_desired(stored, observed) if stored is not None else {}
            expected["uuid"], observed["uuid"] = rec.uuid, obs.uuid
            finding = {
                "vm": name,
                "kind": "changed",
                "fields": fields,
                "expected": {f: expected.get(f) for f in fields},
                "observed": {f: observed.get(f) for f in fields},
            }
            findings.append(_event(store, finding))
            if rec.meta.get("drift") != fields or rec.meta.get("missing"):
                rec.meta.update(drift=fields, missing=False)
                store.put_vm(rec)
        elif rec.meta.get("drift") or rec.meta.get("missing"):
            rec.meta.update(drift=[], missing=False)
            store.put_vm(rec)
            findings.append(
                _event(store, {"vm": name, "kind": "resolved", "detail": "libvirt matches the spec again"})
            )
    for name in driver.list_names():
        if name in records:
            continue
        obs = driver.observe(name)
        if obs is None:
            continue
        if not obs.config.managed:
            continue  # not ours (no novacron metadata): neither drift nor ours to adopt
        doc, _ = spec_dict(obs.spec(pool), None)
        try:
            VirtualMachineSpec.model_validate(doc)
        except ValidationError as e:
            findings.append(_event(store, {"vm": name, "kind": "unadoptable", "detail": str(e)}))
            continue
        store.put_vm(
            VmRecord(
                name=name,
                spec=doc,
                applied=doc,
                uuid=obs.uuid,
                node=driver.node_id,
                meta={"adopted": True, "volumes": owned_volumes(obs, []), "definition": obs.config_xml},
            )
        )
        findings.append(
            _event(
                store,
                {"vm": name, "kind": "adopted", "detail": "novacron domain unknown to the store; recorded"},
            )
        )
    return findings
