"""HypervisorDriver: the agent's one libvirt connection, as blocking, well-named operations.

Every method blocks (libvirt calls do); the VM service calls them through `asyncio.to_thread`.
One driver holds one connection. Every libvirt failure becomes a `HypervisorError` that says what
we were doing, and every state change waits until libvirt reports the target state, failing with
`StateTimeout` that names the state it got stuck in.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import libvirt

from novacron.config.model import HypervisorConfig
from novacron.hypervisor import storage
from novacron.hypervisor.accel import Accel, detect_accel, domain_type
from novacron.hypervisor.domain_xml import NS, NS_PREFIX
from novacron.hypervisor.observation import STATES as _STATES
from novacron.hypervisor.observation import Observation
from novacron.hypervisor.parse import parse_domain_xml
from novacron.hypervisor.reasons import libvirt_reason
from novacron_sdk.errors import HypervisorError, NotFound, StateTimeout, Unavailable
from novacron_sdk.models.vm import CloudInitSpec

BALLOON_ACK_S = 10.0

# libvirt prints every error to stderr by default; ours are raised as exceptions with context.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


@contextlib.contextmanager
def calling(doing: str) -> Iterator[None]:
    """Turn a libvirt error into a HypervisorError prefixed with what we were doing.

    libvirt's own reason only (`libvirt_reason`): its XML parser quotes the whole definition.
    """
    try:
        yield
    except libvirt.libvirtError as e:
        raise HypervisorError(f"{doing}: {libvirt_reason(e)}") from e


class HypervisorDriver:
    def __init__(self, cfg: HypervisorConfig, node_id: str, data_dir: Path) -> None:
        self.cfg = cfg
        self.node_id = node_id
        self.data_dir = Path(data_dir)
        self._conn: libvirt.virConnect | None = None
        self.accel: Accel | None = None
        self.accel_reason = ""
        self._qemu_owner: tuple[int, int] | None = None
        self._qemu_owner_read = False

    # -- connection -------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, pick the accelerator and make sure the configured storage pool exists."""
        if self._conn is not None:
            return
        try:
            self._conn = libvirt.open(self.cfg.uri)
        except libvirt.libvirtError as e:
            raise Unavailable(f"connecting to libvirt at {self.cfg.uri}: {libvirt_reason(e)}") from e
        self.accel, self.accel_reason = detect_accel(self._conn, self.cfg.accel)
        storage.ensure_pool(self._conn, self.cfg.storage_pool, self.pool_dir(self.cfg.storage_pool))

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = None

    @property
    def conn(self) -> libvirt.virConnect:
        if self._conn is None:
            raise Unavailable("hypervisor driver is not open")
        return self._conn

    @property
    def is_test(self) -> bool:
        return self.accel == "test"

    @property
    def domain_type(self) -> str:
        return domain_type(self.accel or "tcg")

    @property
    def supports_disk_resize(self) -> bool:
        """The test driver has neither virStorageVolResize nor virDomainBlockResize."""
        return not self.is_test

    def pool_dir(self, pool: str) -> Path:
        return self.data_dir / "pools" / pool

    def vm_dir(self, name: str) -> Path:
        return self.data_dir / "vms" / name

    def qemu_owner(self) -> tuple[int, int] | None:
        """uid and gid QEMU runs as (libvirt's DAC label), when that is not root and we may chown.

        A VM's own directory is 0700: an unprivileged QEMU must own it to reach the seed ISO
        (libvirt hands it the files themselves, not the directories they are in).
        """
        if not self._qemu_owner_read:
            self._qemu_owner = None if self.is_test or os.geteuid() != 0 else self._dac_label()
            self._qemu_owner_read = True
        return self._qemu_owner

    def _dac_label(self) -> tuple[int, int] | None:
        with calling("reading the hypervisor's capabilities"):
            caps = ET.fromstring(self.conn.getCapabilities())
        for model in caps.findall("host/secmodel"):
            if model.findtext("model") != "dac":
                continue
            for label in model.findall("baselabel"):
                if label.get("type") == self.domain_type and label.text and ":" in label.text:
                    user, group = label.text.strip().split(":", 1)
                    try:
                        uid = int(user[1:]) if user.startswith("+") else pwd.getpwnam(user).pw_uid
                        gid = int(group[1:]) if group.startswith("+") else grp.getgrnam(group).gr_gid
                    except (KeyError, ValueError):
                        return None
                    return None if uid == 0 else (uid, gid)
        return None

    def image_roots(self) -> list[Path]:
        """Directories base images, kernels and initrds may come from, symlinks resolved.

        `hypervisor.image_dirs`, or else the agent's own: the configured pool's directory and
        data_dir/images. Nothing else: whoever declares a VM can read the files its disks and kernel name.
        """
        dirs = list(self.cfg.image_dirs)
        if not dirs:
            pool = storage.lookup_pool(self.conn, self.cfg.storage_pool)
            with calling(f"reading storage pool {self.cfg.storage_pool!r}"):
                target = storage.pool_directory(pool) if pool is not None else None
            dirs = [target or self.pool_dir(self.cfg.storage_pool), self.data_dir / "images"]
        return [Path(os.path.realpath(d)) for d in dirs]

    # -- lookups ----------------------------------------------------------------------------
    def lookup(self, name: str) -> libvirt.virDomain | None:
        try:
            return self.conn.lookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise HypervisorError(f"looking up domain {name!r}: {libvirt_reason(e)}") from e

    def _dom(self, name: str) -> libvirt.virDomain:
        dom = self.lookup(name)
        if dom is None:
            raise NotFound(f"domain {name!r} does not exist in libvirt", field="name")
        return dom

    def list_names(self) -> list[str]:
        with calling("listing domains"):
            return sorted(d.name() for d in self.conn.listAllDomains(0))

    def state(self, name: str) -> str:
        dom = self.lookup(name)
        if dom is None:
            return "missing"
        with calling(f"reading the state of {name!r}"):
            return _STATES.get(dom.state()[0], "unknown")

    def observe(self, name: str) -> Observation | None:
        """libvirt's current view of `name`, or None when no such domain exists."""
        dom = self.lookup(name)
        if dom is None:
            return None
        try:
            state = _STATES.get(dom.state()[0], "unknown")
            config_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            config = parse_domain_xml(config_xml)
            live = parse_domain_xml(dom.XMLDesc(0)) if dom.isActive() else None
            autostart = bool(dom.autostart())
            uuid = dom.UUIDString()
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None  # undefined while we looked
            raise HypervisorError(f"observing domain {name!r}: {libvirt_reason(e)}") from e
        volumes = {}
        for d in config.block_disks:
            if d.path and (facts := storage.volume_facts(self.conn, d.path)) is not None:
                volumes[d.path] = facts
        return Observation(name, uuid, state, config, live, autostart, volumes, config_xml)

    def pool_exists(self, name: str) -> bool:
        return storage.lookup_pool(self.conn, name) is not None

    def network_exists(self, name: str) -> bool:
        try:
            self.conn.networkLookupByName(name)
            return True
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
                return False
            raise HypervisorError(f"looking up network {name!r}: {libvirt_reason(e)}") from e

    def bridge_exists(self, name: str) -> bool:
        return Path("/sys/class/net", name, "bridge").is_dir()

    # -- definition -------------------------------------------------------------------------
    def define(self, xml: str) -> str:
        """Define (or redefine the persistent config of) a domain; return its UUID."""
        with calling("defining the domain"):
            return self.conn.defineXML(xml).UUIDString()

    def undefine(self, name: str) -> None:
        dom = self.lookup(name)
        if dom is None:
            return
        with calling(f"undefining {name!r}"):
            if dom.isActive():
                dom.destroy()
            try:
                dom.undefineFlags(
                    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                )
            except libvirt.libvirtError as e:
                if e.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                    raise
                dom.undefine()

    def sync_metadata_live(self, name: str) -> None:
        """Copy our metadata element from the persistent config to the running domain."""
        dom = self._dom(name)
        if not dom.isActive():
            return
        with calling(f"updating the live metadata of {name!r}"):
            element = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
            dom.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, element, NS_PREFIX, NS, libvirt.VIR_DOMAIN_AFFECT_LIVE
            )

    def set_autostart(self, name: str, on: bool) -> None:
        dom = self._dom(name)
        with calling(f"setting autostart of {name!r}"):
            dom.setAutostart(1 if on else 0)

    # -- power ------------------------------------------------------------------------------
    def wait_for_state(self, name: str, targets: set[str], timeout: float, doing: str) -> str:
        """Poll until libvirt reports one of `targets`; StateTimeout names where it got stuck."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            current = self.state(name)
            if current in targets:
                return current
            if time.monotonic() >= deadline:
                raise StateTimeout(
                    f"{doing} did not finish within {timeout:g}s: libvirt still reports {name!r} as "
                    f"{current!r} (waiting for {' or '.join(sorted(targets))})",
                    field="state",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def start(self, name: str, timeout: float = 60.0) -> None:
        dom = self._dom(name)
        with calling(f"starting {name!r}"):
            if not dom.isActive():
                dom.create()
        self.wait_for_state(name, {"running"}, timeout, f"starting {name!r}")

    def pause(self, name: str, timeout: float = 30.0) -> None:
        dom = self._dom(name)
        with calling(f"pausing {name!r}"):
            dom.suspend()
        self.wait_for_state(name, {"paused"}, timeout, f"pausing {name!r}")

    def resume(self, name: str, timeout: float = 30.0) -> None:
        dom = self._dom(name)
        with calling(f"resuming {name!r}"):
            dom.resume()
        self.wait_for_state(name, {"running"}, timeout, f"resuming {name!r}")

    def destroy(self, name: str, timeout: float = 30.0) -> None:
        dom = self._dom(name)
        with calling(f"forcing {name!r} off"):
            if dom.isActive():
                dom.destroy()
        self.wait_for_state(name, {"stopped", "missing"}, timeout, f"forcing {name!r} off")

    def shutdown(self, name: str, *, timeout: float | None = None, force: bool = False) -> str:
        """ACPI power button, wait; then power off only when `force`. Returns how it stopped."""
        timeout = self.cfg.shutdown_timeout_s if timeout is None else timeout
        dom = self._dom(name)
        if self.state(name) == "stopped":
            return "already_stopped"
        if self.state(name) == "paused":
            self.resume(name)  # a paused guest cannot see the power button
        with calling(f"sending the ACPI power button to {name!r}"):
            self._press_power_button(dom)
        try:
            self.wait_for_state(name, {"stopped"}, timeout, f"graceful shutdown of {name!r}")
            return "graceful"
        except StateTimeout as e:
            if not force:
                raise StateTimeout(
                    f"{e.detail}; the guest did not act on the ACPI power button. "
                    "Retry with force_stop=true to power it off.",
                    field="state",
                ) from e
        self.destroy(name)
        return "forced"

    def _press_power_button(self, dom: libvirt.virDomain) -> None:
        if self.is_test:
            dom.shutdown()  # the test driver has no ACPI flag (and its guests always comply)
        else:
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)

    # -- live resources ---------------------------------------------------------------------
    def set_memory_live(self, name: str, mib: int, ack_timeout: float = BALLOON_ACK_S) -> bool:
        """Ask the balloon for `mib`; True when the guest got there, False if it never answered."""
        dom = self._dom(name)
        with calling(f"setting the live memory of {name!r} to {mib} MiB"):
            dom.setMemoryFlags(mib * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        deadline = time.monotonic() + (0 if self.is_test else ack_timeout)
        while True:
            with calling(f"reading the live memory of {name!r}"):
                current = parse_domain_xml(dom.XMLDesc(0)).memory_mib
            if current == mib:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def set_vcpus_live(self, name: str, count: int) -> str | None:
        """Hot-plug/unplug vCPUs; None on success, else libvirt's reason (the caller falls back)."""
        dom = self._dom(name)
        try:
            dom.setVcpusFlags(count, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            if dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) != count:
                return "libvirt did not report the new vCPU count"
        except libvirt.libvirtError as e:
            return libvirt_reason(e)
        return None

    def resize_disk(self, name: str, target: str, path: str, size_bytes: int) -> None:
        """Grow a disk: blockResize on a running domain, the volume itself when stopped."""
        dom = self._dom(name)
        with calling(f"growing disk {target} of {name!r} to {size_bytes} bytes"):
            if dom.isActive():
                dom.blockResize(target, size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            else:
                self.conn.storageVolLookupByPath(path).resize(size_bytes, 0)

    def ip_addresses(self, name: str) -> list[str]:
        """Guest addresses from DHCP leases or the guest agent; [] when neither knows."""
        dom = self.lookup(name)
        if dom is None or self.state(name) != "running":
            return []
        out: list[str] = []
        for source in (
            libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
            libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
        ):
            try:
                ifaces = dom.interfaceAddresses(source) or {}
            except libvirt.libvirtError:
                continue
            for iface in ifaces.values():
                for a in iface.get("addrs") or []:
                    addr = a.get("addr")
                    if addr and addr not in out and not addr.startswith(("127.", "::1")):
                        out.append(addr)
            if out:
                break
        return out

    # -- storage ----------------------------------------------------------------------------
    def resolve_pool(self, name: str) -> str:
        """A spec's pool "default" means the configured pool."""
        return self.cfg.storage_pool if name == "default" else name

    def _pool(self, name: str) -> libvirt.virStoragePool:
        pool = storage.lookup_pool(self.conn, self.resolve_pool(name))
        if pool is None:
            raise NotFound(f"storage pool {self.resolve_pool(name)!r} does not exist", field="pool")
        return pool

    def volume_exists(self, pool: str, volume: str) -> bool:
        return storage.find_volume(self._pool(pool), volume) is not None

    def list_volumes(self, pool: str) -> list[str]:
        with calling(f"listing volumes of pool {pool!r}"):
            p = self._pool(pool)
            if not self.is_test:
                p.refresh(0)
            return sorted(v.name() for v in p.listAllVolumes(0))

    def create_volume(self, pool: str, volume: str, size_gib: int | None, base_image: str | None) -> str:
        return storage.create_volume(self._pool(pool), volume, size_gib, base_image)

    def delete_volume(self, pool: str, volume: str) -> bool:
        return storage.delete_volume(self._pool(pool), volume)

    def seed_path(self, name: str) -> Path:
        return self.vm_dir(name) / "seed.iso"

    def console_log_path(self, name: str) -> str | None:
        return None if self.is_test else str(self.vm_dir(name) / "console.log")

    def write_seed(self, name: str, ci: CloudInitSpec) -> str:
        return str(storage.write_seed_iso(self.seed_path(name), name, ci))

    def remove_vm_files(self, name: str) -> None:
        """The seed ISO and console log the agent wrote for `name` (never disks: those are volumes)."""
        d = self.vm_dir(name)
        for f in ("seed.iso", "console.log"):
            with contextlib.suppress(FileNotFoundError):
                (d / f).unlink()
        with contextlib.suppress(OSError):
            d.rmdir()
