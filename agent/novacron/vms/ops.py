"""The blocking steps of creating, changing and deleting one VM (run in a worker thread).

Create is all-or-nothing: every resource made so far (volumes, seed ISO, domain definition) is
undone when a later step fails. Updates write the persistent config once (a full, regenerated
definition that keeps the UUID and MACs), then apply what can be applied live, then the power
state; a live step the guest does not take is downgraded to `next_boot` and said so.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from novacron.hypervisor import storage
from novacron.hypervisor.domain_xml import DiskLayout, DomainLayout, build_domain_xml, memory_ceiling
from novacron.hypervisor.driver import HypervisorDriver, Observation
from novacron_sdk.errors import NotFound, NovacronError
from novacron_sdk.models.vm import FieldChange, VirtualMachineSpec


@dataclass
class Outcome:
    """What a blocking step did: the observation afterwards and anything the caller must report."""

    obs: Observation | None
    warnings: list[str] = field(default_factory=list)
    volumes: list[dict[str, str]] = field(default_factory=list)  # [{pool, volume}] we created
    seed_iso: str | None = None


def disk_location(current: Observation, name: str) -> tuple[str, str, str, str, bool] | None:
    """(target, path, pool, volume, created) of the VM's disk `name`.

    Disks we made are named in our metadata; a disk without it (an adopted VM) goes by its target.
    """
    paths = {d.target: d.path or "" for d in current.config.block_disks}
    for m in current.config.meta_disks:
        if m.name == name and m.target in paths:
            return m.target, paths[m.target], m.pool, m.volume, m.created
    if name in paths:
        facts = current.volumes.get(paths[name])
        return name, paths[name], facts.pool if facts else "", Path(paths[name]).name, False
    return None


def _layout(
    driver: HypervisorDriver,
    spec: VirtualMachineSpec,
    current: Observation | None,
    new_paths: dict[str, str],
) -> DomainLayout:
    disks = []
    for disk in spec.disks:
        where = disk_location(current, disk.name) if current is not None else None
        if disk.name in new_paths or where is None:
            pool, volume = driver.resolve_pool(disk.pool), storage.volume_name(spec.name, disk.name)
            disks.append(DiskLayout(disk.name, new_paths[disk.name], pool, volume, disk.bus))
        else:
            _, path, pool, volume, created = where
            disks.append(DiskLayout(disk.name, path, pool, volume, disk.bus, created))
    macs = [n.mac for n in current.config.nics] if current is not None else []
    return DomainLayout(
        domain_type=driver.domain_type,
        max_vcpus=driver.cfg.max_vcpus,
        memory_ceiling_mib=memory_ceiling(spec.memory_mib, driver.cfg.max_memory_mib),
        node=driver.node_id,
        disks=disks,
        macs=macs,
        uuid=current.uuid if current is not None else None,
        seed_iso=str(driver.seed_path(spec.name)) if spec.cloud_init else None,
        console_log=driver.console_log_path(spec.name),
    )


def _prepare_vm_dir(driver: HypervisorDriver, name: str) -> None:
    """The VM's own directory (seed ISO with its user-data, console log): the agent's alone."""
    d = driver.vm_dir(name)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(d, 0o700)  # whatever the umask, and for a directory made before
    if (owner := driver.qemu_owner()) is not None:
        os.chown(d, *owner)  # an unprivileged QEMU must reach the seed ISO in it


def converge_state(driver: HypervisorDriver, name: str, want: str, *, force_stop: bool) -> str | None:
    """Drive the power state to `want`, waiting for libvirt at each step; returns how it stopped."""
    cur = driver.state(name)
    if cur == "shutting_down":
        cur = driver.wait_for_state(name, {"stopped"}, driver.cfg.shutdown_timeout_s, f"shutdown of {name!r}")
    if want == "stopped":
        if cur in ("running", "paused"):
            return driver.shutdown(name, force=force_stop)
        return None
    if cur in ("stopped", "crashed"):
        driver.start(name)
        cur = "running"
    if want == "running" and cur == "paused":
        driver.resume(name)
    elif want == "paused" and cur == "running":
        driver.pause(name)
    return None


def create(driver: HypervisorDriver, spec: VirtualMachineSpec, *, force_stop: bool = False) -> Outcome:
    """Make the VM from nothing, or leave nothing behind."""
    made: list[tuple[str, str]] = []
    seed: str | None = None
    defined = False
    try:
        paths = {}
        for disk in spec.disks:
            pool, volume = driver.resolve_pool(disk.pool), storage.volume_name(spec.name, disk.name)
            paths[disk.name] = driver.create_volume(pool, volume, disk.size_gib, disk.base_image)
            made.append((pool, volume))
        if not driver.is_test or spec.cloud_init:
            _prepare_vm_dir(driver, spec.name)
        if spec.cloud_init:
            seed = driver.write_seed(spec.name, spec.cloud_init)
        xml = build_domain_xml(spec, _layout(driver, spec, None, paths))
        driver.define(xml)
        defined = True
        if spec.autostart:
            driver.set_autostart(spec.name, True)
        converge_state(driver, spec.name, spec.state, force_stop=force_stop)
    except BaseException:
        discard(driver, spec.name, made, defined=defined)
        raise
    return Outcome(
        driver.observe(spec.name),
        volumes=[{"pool": p, "volume": v} for p, v in made],
        seed_iso=seed,
    )


def discard(driver: HypervisorDriver, name: str, volumes: list[tuple[str, str]], *, defined: bool) -> None:
    """Undo a create: the domain forced off and undefined, its volumes and files deleted."""
    if defined:
        with contextlib.suppress(NovacronError):
            driver.undefine(name)
    for pool, volume in volumes:
        with contextlib.suppress(NovacronError):
            driver.delete_volume(pool, volume)
    driver.remove_vm_files(name)


CONFIG_FIELDS = ("vcpus", "memory_mib", "disks", "networks", "cloud_init", "boot", "labels")


def update(
    driver: HypervisorDriver,
    spec: VirtualMachineSpec,
    current: Observation,
    changes: list[FieldChange],
    *,
    force_stop: bool = False,
) -> Outcome:
    """Apply `changes` (already judged by the diff) to an existing VM. Mutates their apply modes."""
    name = spec.name
    out = Outcome(None)
    top = {c.field.split(".")[0] for c in changes}
    new_disks = [c.after["name"] for c in changes if c.field.startswith("disks.") and c.before is None]  # type: ignore[index]
    made: list[tuple[str, str]] = []
    new_seed: Path | None = None
    try:
        paths = {}
        for disk in spec.disks:
            if disk.name in new_disks:
                pool, volume = driver.resolve_pool(disk.pool), storage.volume_name(name, disk.name)
                paths[disk.name] = driver.create_volume(pool, volume, disk.size_gib, disk.base_image)
                made.append((pool, volume))
        if "cloud_init" in top and spec.cloud_init is not None:
            _prepare_vm_dir(driver, name)
            new_seed = storage.write_seed_iso(
                driver.seed_path(name).with_suffix(".iso.new"), name, spec.cloud_init
            )
        if top & set(CONFIG_FIELDS):
            driver.define(build_domain_xml(spec, _layout(driver, spec, current, paths)))
    except BaseException:
        for pool, volume in made:
            with contextlib.suppress(NovacronError):
                driver.delete_volume(pool, volume)
        if new_seed is not None:
            new_seed.unlink(missing_ok=True)
        raise
    out.volumes = [{"pool": p, "volume": v} for p, v in made]
    if new_seed is not None:
        os.replace(new_seed, driver.seed_path(name))
        out.seed_iso = str(driver.seed_path(name))
    elif "cloud_init" in top:
        driver.seed_path(name).unlink(missing_ok=True)
    if current.active and top & set(CONFIG_FIELDS):
        driver.sync_metadata_live(name)
    _apply_live(driver, spec, current, changes, out)
    if "autostart" in top:
        driver.set_autostart(name, spec.autostart)
    converge_state(driver, name, spec.state, force_stop=force_stop)
    out.obs = driver.observe(name)
    return out


def _apply_live(
    driver: HypervisorDriver,
    spec: VirtualMachineSpec,
    current: Observation,
    changes: list[FieldChange],
    out: Outcome,
) -> None:
    name = spec.name
    for c in changes:
        if c.field == "memory_mib" and c.apply == "live_and_config":
            if not driver.set_memory_live(name, spec.memory_mib):
                c.apply = "next_boot"
                out.warnings.append(
                    f"memory_mib: the guest did not answer the balloon request for {spec.memory_mib} MiB "
                    "(no virtio-balloon driver?); the new size is in the config and applies at next boot"
                )
        elif c.field == "vcpus" and c.apply == "live_and_config":
            reason = driver.set_vcpus_live(name, spec.vcpus)
            if reason is not None:
                c.apply = "next_boot"
                out.warnings.append(f"vcpus: live change refused ({reason}); applies at next boot")
        elif c.field.startswith("disks.") and c.field.endswith(".size_gib") and c.apply == "live":
            disk = spec.disks[int(c.field.split(".")[1])]
            where = disk_location(current, disk.name)
            if where is None:
                raise NotFound(f"disk {disk.name!r} is not attached to {name!r}", field=c.field)
            driver.resize_disk(name, where[0], where[1], int(c.after) * storage.GIB)  # type: ignore[call-overload]


def delete(
    driver: HypervisorDriver,
    name: str,
    current: Observation | None,
    volumes: list[dict[str, str]],
    *,
    keep_storage: bool,
    force_stop: bool,
) -> list[dict[str, str]]:
    """Stop (gracefully unless forced), undefine, and delete the volumes we created. Returns those."""
    if current is not None:
        if current.state in ("running", "paused", "shutting_down"):
            converge_state(driver, name, "stopped", force_stop=force_stop)
        driver.undefine(name)
    removed = []
    if not keep_storage:
        for v in volumes:
            with contextlib.suppress(NovacronError):  # pool gone: nothing left to remove
                if driver.delete_volume(v["pool"], v["volume"]):
                    removed.append(v)
        driver.remove_vm_files(name)
    return removed


def owned_volumes(current: Observation | None, recorded: list[dict[str, str]]) -> list[dict[str, str]]:
    """Volumes the agent created for a VM: from the domain's metadata and the store's record."""
    out = [dict(v) for v in recorded]
    if current is not None:
        for m in current.config.meta_disks:
            v = {"pool": m.pool, "volume": m.volume}
            if m.created and v not in out:
                out.append(v)
    return out
