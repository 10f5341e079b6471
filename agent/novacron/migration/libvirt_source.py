"""One outgoing migration's libvirt (ports.SourceLibvirt): the VM's domain here, a connection to
the destination's libvirtd, and virDomainMigrate3 with the parameters plan.py computes.

The source agent drives libvirt's managed migration itself with a connection to each libvirtd:
if the agent dies, both connections close, the destination libvirtd destroys the half-arrived
domain and the source keeps running. Blocking calls, run in the migration's worker threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import libvirt

from novacron.migration import libvirt_ops as lv
from novacron.migration import plan as planning
from novacron.migration.machine import DomainState
from novacron.migration.ports import LibvirtFailure
from novacron_sdk.models.migration import Migration

_CONSTS = planning.LibvirtConsts.from_module(libvirt)


@contextlib.contextmanager
def _libvirt() -> Iterator[None]:
    try:
        yield
    except libvirt.libvirtError as exc:
        raise LibvirtFailure(exc.get_error_message()) from None


class LibvirtSource:
    def __init__(self, conn: libvirt.virConnect, m: Migration, multifd_compression: str | None) -> None:
        self.conn, self.m = conn, m
        self.multifd_compression = multifd_compression
        self._dom: libvirt.virDomain | None = None
        self._dconn: libvirt.virConnect | None = None
        self._new_dom: libvirt.virDomain | None = None
        self._params: dict[str, Any] = {}
        self._flags = 0

    def find_domain(self) -> None:
        with _libvirt():
            self._dom = self.conn.lookupByName(self.m.vm)

    def set_up(self, libvirt_uri: str, console_log: str | None, port: int) -> None:
        m, dom = self.m, self._dom
        assert dom is not None
        self._dconn = lv.open_conn(libvirt_uri)
        live, persistent = lv.migratable_xml(dom)
        dest_xml = planning.rewrite_domain_xml(live, node=m.destination, console_log=console_log)
        persist_xml = planning.rewrite_domain_xml(persistent, node=m.destination, console_log=console_log)
        if m.options.multifd_channels:  # set every time: an earlier migration may have left another value
            method = self.multifd_compression
            lv.set_multifd_compression(dom, method or "none")
            dest_xml = planning.with_multifd_compression(dest_xml, method)
        self._params, self._flags = planning.libvirt_call(_CONSTS, m.options, port, dest_xml, persist_xml)

    def set_max_downtime(self, ms: int) -> None:
        assert self._dom is not None
        lv.set_max_downtime(self._dom, ms)

    def migrate(self) -> None:
        assert self._dom is not None and self._dconn is not None
        with _libvirt():
            self._new_dom = lv.migrate(self._dom, self._dconn, self._params, self._flags)

    def job_stats(self) -> dict[str, Any] | None:
        return lv.job_stats(self._dom) if self._dom is not None else None

    def final_stats(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        new = self._new_dom
        if new is None and self._dconn is not None:  # libvirt failed, yet the destination runs it
            with contextlib.suppress(libvirt.libvirtError):
                new = self._dconn.lookupByName(self.m.vm)
        there = lv.job_stats(new, completed=True) if new is not None else None
        here = lv.job_stats(self._dom, completed=True) if self._dom is not None else None
        return there, here

    def abort_job(self) -> None:
        if self._dom is not None:
            lv.abort_job(self._dom)

    def who_runs(self) -> tuple[DomainState, DomainState]:
        with _libvirt():
            there = lv.domain_state(self._dconn, self.m.vm) if self._dconn is not None else "missing"
            return lv.domain_state(self.conn, self.m.vm), there

    def local_state(self) -> DomainState:
        with _libvirt():
            return lv.domain_state(self.conn, self.m.vm)

    def resume_if_paused(self) -> None:
        lv.resume_if_paused(self.conn, self.m.vm)

    def start(self) -> None:
        lv.start(self.conn, self.m.vm)

    def forget(self) -> None:
        lv.forget(self.conn, self.m.vm)

    def close(self) -> None:
        lv.close_conn(self._dconn)
        self._dconn = None
