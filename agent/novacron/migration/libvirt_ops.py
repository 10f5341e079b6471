"""The libvirt calls of a migration, blocking (callers run them in worker threads).

The source agent drives libvirt's managed migration itself (virDomainMigrate3 with a connection
to each libvirtd): if the agent dies, both libvirt connections close, the destination libvirtd
destroys the half-arrived domain (it was created for that connection) and the source keeps running.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import libvirt

from novacron.hypervisor.driver import calling
from novacron.migration.machine import DomainState

_STATE: dict[int, DomainState] = {
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTOFF: "stopped",
    libvirt.VIR_DOMAIN_SHUTDOWN: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
}


def lookup(conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def domain_state(conn: libvirt.virConnect, name: str) -> DomainState:
    dom = lookup(conn, name)
    if dom is None:
        return "missing"
    try:
        return _STATE.get(dom.state()[0], "other")
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return "missing"
        raise


def open_conn(uri: str) -> libvirt.virConnect:
    with calling(f"connecting to the destination libvirt at {uri}"):
        return libvirt.open(uri)


def close_conn(conn: libvirt.virConnect | None) -> None:
    if conn is not None:
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()


def migratable_xml(dom: libvirt.virDomain) -> tuple[str, str]:
    """(live, persistent) definitions in the form libvirt accepts as DEST_XML / PERSIST_XML."""
    with calling(f"reading the definition of {dom.name()!r}"):
        live = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE)
        persistent = dom.XMLDesc(
            libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_INACTIVE
        )
    return live, persistent


def set_max_downtime(dom: libvirt.virDomain, ms: int) -> None:
    with calling(f"setting the maximum downtime of {dom.name()!r}"):
        dom.migrateSetMaxDowntime(ms, 0)


def set_multifd_compression(dom: libvirt.virDomain, method: str) -> None:
    """QEMU's multifd-compression on the source (libvirt 9.0 has no parameter for it; the monitor
    command marks the domain "custom-monitor" in libvirt's log, nothing else)."""
    import libvirt_qemu

    cmd = json.dumps({"execute": "migrate-set-parameters", "arguments": {"multifd-compression": method}})
    with calling(f"setting multifd compression {method!r} on {dom.name()!r}"):
        libvirt_qemu.qemuMonitorCommand(dom, cmd, 0)


def migrate(
    dom: libvirt.virDomain, dconn: libvirt.virConnect, params: dict[str, Any], flags: int
) -> libvirt.virDomain:
    """virDomainMigrate3: returns when the destination runs the VM (or raises)."""
    return dom.migrate3(dconn, params, flags)


def job_stats(dom: libvirt.virDomain, *, completed: bool = False) -> dict[str, Any] | None:
    try:
        return dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED if completed else 0)
    except libvirt.libvirtError:
        return None


def abort_job(dom: libvirt.virDomain) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        dom.abortJob()


def resume_if_paused(conn: libvirt.virConnect, name: str) -> bool:
    dom = lookup(conn, name)
    if dom is None or dom.state()[0] != libvirt.VIR_DOMAIN_PAUSED:
        return False
    with calling(f"resuming {name!r} on the source"):
        dom.resume()
    return True


def start(conn: libvirt.virConnect, name: str) -> None:
    dom = lookup(conn, name)
    if dom is not None and not dom.isActive():
        with calling(f"starting {name!r} again on the source"):
            dom.create()


def forget(conn: libvirt.virConnect, name: str) -> None:
    """Remove the (stopped) source definition once the destination owns the VM."""
    dom = lookup(conn, name)
    if dom is None:
        return
    with calling(f"undefining {name!r} on the source after the migration"):
        if dom.isActive():
            state = dom.state()[0]
            if state == libvirt.VIR_DOMAIN_RUNNING:
                raise RuntimeError(f"refusing to remove {name!r}: it runs on the source")
            dom.destroy()
        if dom.isPersistent():
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)


def destroy_unowned(conn: libvirt.virConnect, name: str) -> bool:
    """Destroy a copy that never became the VM's owner (paused incoming domain). Never a running one."""
    dom = lookup(conn, name)
    if dom is None:
        return False
    with calling(f"removing the unfinished incoming copy of {name!r}"):
        if dom.isActive():
            if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                return False
            dom.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isPersistent():
                dom.undefine()
    return True


def free_memory_mib(conn: libvirt.virConnect) -> int | None:
    try:
        return int(conn.getFreeMemory()) // (1 << 20)
    except libvirt.libvirtError:
        return None
