"""VirtualMachineSpec -> libvirt domain XML.

The XML is built from the spec plus a `DomainLayout` (what the agent resolved: volume paths, MACs
it must keep, the UUID to preserve, where the console log goes). Everything needed to read the
spec back out of libvirt (disk names, which volumes we created, labels, a hash of the spec) goes
into a `<metadata>` element in our own namespace, so `parse.py` can invert this function.

Memory: `<memory>` is the balloon ceiling and `<currentMemory>` the spec's size, so a change up to
the ceiling is a live balloon request. The ceiling is twice the spec (capped at the configured
maximum): a ceiling of the full maximum would make every small guest pay the page tables of the
largest one. vCPUs: `<vcpu current=N>max_vcpus</vcpu>` leaves room for live hot-plug.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from novacron_sdk.models.vm import CloudInitSpec, VirtualMachineSpec

NS = "https://novacron.dev/xmlns/vm/1"
NS_PREFIX = "novacron"
ET.register_namespace(NS_PREFIX, NS)

_TARGET_PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd", "ide": "hd"}
BALLOON_HEADROOM = 2


@dataclass(frozen=True)
class DiskLayout:
    """Where one spec disk lives, and whether the agent created (and so may delete) it."""

    name: str
    path: str
    pool: str
    volume: str
    bus: str
    created: bool = True
    format: str = "qcow2"


@dataclass(frozen=True)
class DomainLayout:
    """Resolved, non-spec inputs of the domain XML."""

    domain_type: str  # kvm | qemu | test
    max_vcpus: int
    memory_ceiling_mib: int
    node: str
    disks: list[DiskLayout] = field(default_factory=list)
    macs: list[str | None] = field(default_factory=list)
    uuid: str | None = None
    seed_iso: str | None = None
    console_log: str | None = None


def spec_hash(spec: VirtualMachineSpec) -> str:
    """Stable digest of a spec, recorded with the domain so drift can name the spec it was built from."""
    doc = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def cloud_init_hash(ci: CloudInitSpec | None) -> str | None:
    """The seed ISO's content cannot be read back from libvirt, so its digest stands in for it."""
    if ci is None:
        return None
    doc = json.dumps(ci.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def memory_ceiling(memory_mib: int, max_memory_mib: int) -> int:
    return max(memory_mib, min(max_memory_mib, memory_mib * BALLOON_HEADROOM))


def target_devs(buses: list[str], extra_sd: int = 0) -> tuple[list[str], list[str]]:
    """Device names per disk in order, plus `extra_sd`/`hd` names for cdroms after them."""
    used: dict[str, int] = {}
    out = []
    for bus in buses:
        prefix = _TARGET_PREFIX[bus]
        n = used.get(prefix, 0)
        used[prefix] = n + 1
        out.append(prefix + chr(ord("a") + n))
    extra = []
    for _ in range(extra_sd):
        n = used.get("hd", 0)
        used["hd"] = n + 1
        extra.append("hd" + chr(ord("a") + n))
    return out, extra


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _metadata(root: ET.Element, spec: VirtualMachineSpec, layout: DomainLayout, targets: list[str]) -> None:
    md = _sub(root, "metadata")
    vm = _sub(md, f"{{{NS}}}vm")
    _sub(vm, f"{{{NS}}}spec-hash", spec_hash(spec))
    _sub(vm, f"{{{NS}}}node", layout.node)
    ci = cloud_init_hash(spec.cloud_init)
    if ci:
        _sub(vm, f"{{{NS}}}cloud-init", ci, seed=layout.seed_iso or "")
    for key in sorted(spec.labels):
        _sub(vm, f"{{{NS}}}label", spec.labels[key], key=key)
    for disk, dev in zip(layout.disks, targets, strict=True):
        _sub(
            vm,
            f"{{{NS}}}disk",
            name=disk.name,
            target=dev,
            pool=disk.pool,
            volume=disk.volume,
            created="true" if disk.created else "false",
        )


def build_domain_xml(spec: VirtualMachineSpec, layout: DomainLayout) -> str:
    """The complete domain definition for `spec`; pure, so it is tested without libvirt."""
    if len(layout.disks) != len(spec.disks):
        raise ValueError("layout.disks must have one entry per spec disk")
    is_test = layout.domain_type == "test"
    root = ET.Element("domain", type=layout.domain_type)
    _sub(root, "name", spec.name)
    if layout.uuid:
        _sub(root, "uuid", layout.uuid)
    targets, cd_targets = target_devs([d.bus for d in spec.disks], 1 if layout.seed_iso else 0)
    _metadata(root, spec, layout, targets)
    ceiling = max(layout.memory_ceiling_mib, spec.memory_mib)
    _sub(root, "memory", str(ceiling * 1024), unit="KiB")
    _sub(root, "currentMemory", str(spec.memory_mib * 1024), unit="KiB")
    _sub(root, "vcpu", str(max(layout.max_vcpus, spec.vcpus)), placement="static", current=str(spec.vcpus))

    os_el = _sub(root, "os")
    if is_test:
        _sub(os_el, "type", "hvm")
    else:
        _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    if spec.boot is not None:
        _sub(os_el, "kernel", spec.boot.kernel)
        if spec.boot.initrd:
            _sub(os_el, "initrd", spec.boot.initrd)
        _sub(os_el, "cmdline", spec.boot.cmdline)
    else:
        _sub(os_el, "boot", dev="hd")
    features = _sub(root, "features")
    _sub(features, "acpi")  # libvirt 9.0 + QEMU 10 refuse to start without it
    if not is_test:
        _sub(features, "apic")
    _sub(root, "clock", offset="utc")
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "restart")
    _sub(root, "on_crash", "destroy")

    devices = _sub(root, "devices")
    if any(d.bus == "scsi" for d in spec.disks):
        _sub(devices, "controller", type="scsi", model="virtio-scsi")
    for disk, dev in zip(layout.disks, targets, strict=True):
        d = _sub(devices, "disk", type="file", device="disk")
        _sub(d, "driver", name="qemu", type=disk.format)
        _sub(d, "source", file=disk.path)
        _sub(d, "target", dev=dev, bus=disk.bus)
    if layout.seed_iso:
        cd = _sub(devices, "disk", type="file", device="cdrom")
        _sub(cd, "driver", name="qemu", type="raw")
        _sub(cd, "source", file=layout.seed_iso)
        _sub(cd, "target", dev=cd_targets[0], bus="ide")
        _sub(cd, "readonly")
    for i, nic in enumerate(spec.networks):
        mac = nic.mac or (layout.macs[i] if i < len(layout.macs) else None)
        if nic.network is not None:
            iface = _sub(devices, "interface", type="network")
            _sub(iface, "source", network=nic.network)
        else:
            iface = _sub(devices, "interface", type="bridge")
            _sub(iface, "source", bridge=nic.bridge or "")
        if mac:
            _sub(iface, "mac", address=mac)
        _sub(iface, "model", type=nic.model)
    if not is_test:
        if layout.console_log:
            serial = _sub(devices, "serial", type="file")
            _sub(serial, "source", path=layout.console_log, append="on")
            _sub(serial, "target", port="0")
        _sub(devices, "memballoon", model="virtio")
    return ET.tostring(root, encoding="unicode")
