"""Spec -> XML -> observed spec round-trips, before and after libvirt normalises the XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt

from novacron.hypervisor.domain_xml import NS, DiskLayout, DomainLayout, build_domain_xml, memory_ceiling
from novacron.hypervisor.driver import HypervisorDriver
from novacron.hypervisor.parse import VolumeFacts, observed_spec, parse_domain_xml
from novacron.vms.diff import LiveLimits, compute_changes, normalize_desired
from novacron_sdk.models.vm import VirtualMachineSpec

SPEC = VirtualMachineSpec.model_validate(
    {
        "name": "x1",
        "vcpus": 2,
        "memory_mib": 300,
        "disks": [{"name": "root", "size_gib": 3}, {"name": "d2", "size_gib": 1, "bus": "scsi"}],
        "networks": [{"network": "default", "mac": "52:54:00:00:00:0a"}, {"bridge": "br0", "model": "e1000"}],
        "cloud_init": {"user_data": "u"},
        "boot": {"kernel": "/k", "initrd": "/i", "cmdline": "console=ttyS0"},
        "labels": {"team": "a&b <c>"},
    }
)


def layout(dtype: str) -> DomainLayout:
    return DomainLayout(
        domain_type=dtype,
        max_vcpus=4,
        memory_ceiling_mib=memory_ceiling(300, 2048),
        node="n1",
        disks=[
            DiskLayout("root", "/p/x1-root.qcow2", "pool1", "x1-root.qcow2", "virtio"),
            DiskLayout("d2", "/p/x1-d2.qcow2", "pool1", "x1-d2.qcow2", "scsi"),
        ],  # fmt: skip
        seed_iso="/vms/x1/seed.iso",
        console_log="/vms/x1/console.log",
    )


VOLS = {
    "/p/x1-root.qcow2": VolumeFacts("pool1", "x1-root.qcow2", 3 << 30, None),
    "/p/x1-d2.qcow2": VolumeFacts("pool1", "x1-d2.qcow2", 1 << 30, None),
}


def test_qemu_xml_has_what_libvirt_and_qemu_need() -> None:
    root = ET.fromstring(build_domain_xml(SPEC, layout("qemu")))
    assert root.get("type") == "qemu"
    assert root.find("features/acpi") is not None  # libvirt 9.0 + QEMU 10 need it
    assert root.find("os/type").get("arch") == "x86_64"  # type: ignore[union-attr]
    assert root.findtext("memory") == str(600 * 1024) and root.findtext("currentMemory") == str(300 * 1024)
    vcpu = root.find("vcpu")
    assert vcpu is not None and vcpu.text == "4" and vcpu.get("current") == "2"
    assert root.find("devices/serial/source").get("path") == "/vms/x1/console.log"  # type: ignore[union-attr]
    assert root.find("devices/controller[@model='virtio-scsi']") is not None
    assert root.find(f"metadata/{{{NS}}}vm/{{{NS}}}label").text == "a&b <c>"  # type: ignore[union-attr]
    assert [d.get("dev") for d in root.findall("devices/disk/target")] == ["vda", "sda", "hda"]


def test_memory_ceiling_is_headroom_capped_by_the_maximum() -> None:
    assert memory_ceiling(300, 2048) == 600
    assert memory_ceiling(1500, 2048) == 2048
    assert memory_ceiling(2048, 2048) == 2048


def test_parse_inverts_build() -> None:
    parsed = parse_domain_xml(build_domain_xml(SPEC, layout("qemu")))
    got = observed_spec(parsed, state="running", autostart=False, volumes=VOLS, configured_pool="other")
    want = normalize_desired(SPEC, None)
    for d in want["disks"]:
        d["pool"] = "pool1"
    assert got == want


def test_libvirt_normalisation_is_not_a_change(driver: HypervisorDriver) -> None:
    """libvirt adds addresses, controllers, MACs, <boot>, reorders; none of it is a difference."""
    spec = SPEC.model_copy(
        update={"networks": SPEC.networks[:1] + [SPEC.networks[0].model_copy(update={"mac": None})]}
    )
    ours = build_domain_xml(spec, layout("test"))
    driver.define(ours)
    theirs = driver.conn.lookupByName("x1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert theirs != ours
    a = observed_spec(
        parse_domain_xml(ours), state="stopped", autostart=False, volumes=VOLS, configured_pool="p"
    )
    b = observed_spec(
        parse_domain_xml(theirs), state="stopped", autostart=False, volumes=VOLS, configured_pool="p"
    )
    assert b["networks"][1]["mac"] and a["networks"][1]["mac"] is None  # libvirt generated one
    b["networks"][1]["mac"] = None
    assert a == b
    desired = normalize_desired(spec.model_copy(update={"state": "stopped"}), b)
    for d in desired["disks"]:
        d["pool"] = "pool1"
    assert compute_changes(b, desired, LiveLimits(running=False)) == []
