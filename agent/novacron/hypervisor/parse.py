"""libvirt domain XML -> the observed VM, in the same shape as VirtualMachineSpec.

Comparison is semantic: sizes become MiB/GiB integers, devices become lists of plain dicts, and
whatever libvirt adds on its own (addresses, controllers, aliases, default MACs) is ignored. That is
what lets a re-run after success report `changed: false` however libvirt normalised the XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from novacron.hypervisor.domain_xml import NS

_UNIT_BYTES = {
    "b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1 << 20, "mib": 1 << 20,
    "mb": 1000**2, "g": 1 << 30, "gib": 1 << 30, "gb": 1000**3, "t": 1 << 40, "tib": 1 << 40,
    "tb": 1000**4,
}  # fmt: skip
GIB = 1 << 30


@dataclass(frozen=True)
class ParsedDisk:
    device: str  # disk | cdrom
    target: str
    bus: str
    path: str | None
    format: str | None


@dataclass(frozen=True)
class ParsedNic:
    network: str | None
    bridge: str | None
    mac: str | None
    model: str | None


@dataclass(frozen=True)
class MetaDisk:
    """Our record, inside the domain, of which spec disk a target is and who created its volume."""

    name: str
    target: str
    pool: str
    volume: str
    created: bool


@dataclass(frozen=True)
class VolumeFacts:
    """What the storage pool says about a disk's volume (filled in by the driver)."""

    pool: str
    name: str
    capacity_bytes: int
    backing: str | None


@dataclass
class ParsedDomain:
    name: str
    uuid: str | None
    domain_type: str
    memory_mib: int
    memory_ceiling_mib: int
    vcpus: int
    max_vcpus: int
    boot: dict[str, Any] | None
    disks: list[ParsedDisk] = field(default_factory=list)
    nics: list[ParsedNic] = field(default_factory=list)
    console_log: str | None = None
    managed: bool = False
    spec_hash: str | None = None
    node: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    cloud_init_hash: str | None = None
    seed_iso: str | None = None
    meta_disks: list[MetaDisk] = field(default_factory=list)

    @property
    def block_disks(self) -> list[ParsedDisk]:
        return [d for d in self.disks if d.device == "disk"]


def _bytes(el: ET.Element | None) -> int:
    if el is None or not (el.text or "").strip():
        return 0
    unit = el.get("unit", "KiB").lower()
    return int(el.text.strip()) * _UNIT_BYTES.get(unit, 1024)  # type: ignore[union-attr]


def _mib(el: ET.Element | None) -> int:
    return _bytes(el) // (1 << 20)


def _parse_meta(root: ET.Element, out: ParsedDomain) -> None:
    vm = root.find(f"metadata/{{{NS}}}vm")
    if vm is None:
        return
    out.managed = True
    out.spec_hash = vm.findtext(f"{{{NS}}}spec-hash")
    out.node = vm.findtext(f"{{{NS}}}node")
    ci = vm.find(f"{{{NS}}}cloud-init")
    if ci is not None:
        out.cloud_init_hash = (ci.text or "").strip() or None
        out.seed_iso = ci.get("seed") or None
    out.labels = {el.get("key", ""): el.text or "" for el in vm.findall(f"{{{NS}}}label")}
    out.meta_disks = [
        MetaDisk(
            name=el.get("name", ""),
            target=el.get("target", ""),
            pool=el.get("pool", ""),
            volume=el.get("volume", ""),
            created=el.get("created") == "true",
        )
        for el in vm.findall(f"{{{NS}}}disk")
    ]


def parse_domain_xml(xml: str) -> ParsedDomain:
    root = ET.fromstring(xml)
    vcpu = root.find("vcpu")
    max_vcpus = int((vcpu.text or "1").strip()) if vcpu is not None else 1
    vcpus = int(vcpu.get("current", max_vcpus)) if vcpu is not None else 1
    ceiling = _mib(root.find("memory"))
    current = root.find("currentMemory")
    kernel = root.findtext("os/kernel")
    boot = None
    if kernel:
        boot = {
            "kernel": kernel,
            "initrd": root.findtext("os/initrd") or None,
            "cmdline": root.findtext("os/cmdline") or "",
        }
    out = ParsedDomain(
        name=root.findtext("name") or "",
        uuid=root.findtext("uuid"),
        domain_type=root.get("type", ""),
        memory_mib=_mib(current) if current is not None else ceiling,
        memory_ceiling_mib=ceiling,
        vcpus=vcpus,
        max_vcpus=max_vcpus,
        boot=boot,
    )
    for d in root.findall("devices/disk"):
        src = d.find("source")
        tgt = d.find("target")
        drv = d.find("driver")
        out.disks.append(
            ParsedDisk(
                device=d.get("device", "disk"),
                target=tgt.get("dev", "") if tgt is not None else "",
                bus=tgt.get("bus", "") if tgt is not None else "",
                path=(src.get("file") or src.get("dev")) if src is not None else None,
                format=drv.get("type") if drv is not None else None,
            )
        )
    for i in root.findall("devices/interface"):
        src = i.find("source")
        mac = i.find("mac")
        model = i.find("model")
        out.nics.append(
            ParsedNic(
                network=src.get("network") if src is not None else None,
                bridge=src.get("bridge") if src is not None and src.get("network") is None else None,
                mac=mac.get("address", "").lower() if mac is not None else None,
                model=model.get("type") if model is not None else None,
            )
        )
    serial_src = root.find("devices/serial/source")
    if serial_src is not None:
        out.console_log = serial_src.get("path")
    _parse_meta(root, out)
    return out


def observed_spec(
    parsed: ParsedDomain,
    *,
    state: str,
    autostart: bool,
    volumes: dict[str, VolumeFacts],
    configured_pool: str,
) -> dict[str, Any]:
    """The spec libvirt would give back, as `VirtualMachineSpec.model_dump(mode="json")` would.

    `cloud_init` can only be known by digest, so it is `{"sha256": ...}`; the diff compares the
    desired spec's digest against it. A pool equal to the configured one reads as "default",
    the name a spec uses for it.
    """
    by_target = {m.target: m for m in parsed.meta_disks}
    disks = []
    for d in parsed.block_disks:
        meta = by_target.get(d.target)
        vol = volumes.get(d.path or "")
        pool = vol.pool if vol else (meta.pool if meta else configured_pool)
        size = -(-vol.capacity_bytes // GIB) if vol else None
        disks.append(
            {
                "name": meta.name if meta else d.target,
                "size_gib": size,
                "base_image": vol.backing if vol else None,
                "pool": "default" if pool == configured_pool else pool,
                "bus": d.bus,
            }
        )
    networks = [
        {"network": n.network, "bridge": n.bridge, "mac": n.mac, "model": n.model or "virtio"}
        for n in parsed.nics
    ]
    return {
        "name": parsed.name,
        "vcpus": parsed.vcpus,
        "memory_mib": parsed.memory_mib,
        "disks": disks,
        "networks": networks,
        "cloud_init": {"sha256": parsed.cloud_init_hash} if parsed.cloud_init_hash else None,
        "boot": parsed.boot,
        "state": state,
        "autostart": autostart,
        "labels": dict(parsed.labels),
    }
