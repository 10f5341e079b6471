"""Volumes in libvirt storage pools and the cloud-init seed ISO.

Blocking calls on a libvirt connection; the service runs them in worker threads. A disk is always
a qcow2 volume named `<vm>-<disk>.qcow2` in its pool: a fresh one of `size_gib`, or a
copy-on-write overlay on `base_image` (the base is never written). The seed ISO is built with
genisoimage into a temporary file and renamed, so a running guest keeps reading the old inode.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

import libvirt

from novacron.hypervisor.parse import VolumeFacts
from novacron.hypervisor.reasons import brief, libvirt_reason
from novacron_sdk.errors import HypervisorError
from novacron_sdk.models.vm import CloudInitSpec

GIB = 1 << 30
QCOW2_MAGIC = b"QFI\xfb"


def volume_name(vm: str, disk: str) -> str:
    return f"{vm}-{disk}.qcow2"


def image_info(path: str) -> tuple[str, int]:
    """(format, virtual size in bytes) of a base image, read from its header; raw otherwise."""
    with open(path, "rb") as f:
        head = f.read(32)
        if head[:4] == QCOW2_MAGIC and len(head) >= 32:
            return "qcow2", struct.unpack(">Q", head[24:32])[0]
        f.seek(0, os.SEEK_END)
        return "raw", f.tell()


def lookup_pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool | None:
    try:
        return conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            return None
        raise HypervisorError(f"looking up storage pool {name!r}: {libvirt_reason(e)}") from e


def dir_pool_target(pool: libvirt.virStoragePool) -> Path | None:
    """The directory of a `dir` pool; None for other pool types (their targets mean other things)."""
    root = ET.fromstring(pool.XMLDesc(0))
    path = root.findtext("target/path")
    return Path(path) if root.get("type") == "dir" and path else None


def pool_directory(pool: libvirt.virStoragePool) -> Path | None:
    """The directory a pool keeps its volumes in as files (dir, fs, netfs); None for other types."""
    root = ET.fromstring(pool.XMLDesc(0))
    path = root.findtext("target/path")
    return Path(path) if root.get("type") in ("dir", "fs", "netfs") and path else None


def ensure_pool(conn: libvirt.virConnect, name: str, directory: Path) -> libvirt.virStoragePool:
    """The configured pool, defined as a directory pool under data_dir when it does not exist yet.

    An inactive dir pool whose directory is gone is rebuilt only when that directory is our own
    (under data_dir): anywhere else it may be a mount that is not up yet, and writing disks onto
    the bare mount point would hide them from whatever is mounted there later.
    """
    pool = lookup_pool(conn, name)
    try:
        if pool is None:
            directory.mkdir(parents=True, exist_ok=True)
            xml = (
                f"<pool type='dir'><name>{escape(name)}</name>"
                f"<target><path>{escape(str(directory))}</path></target></pool>"
            )
            pool = conn.storagePoolDefineXML(xml, 0)
            pool.setAutostart(1)
        if not pool.isActive():
            target = dir_pool_target(pool)
            if target is not None and not target.is_dir():
                if target != directory:
                    raise HypervisorError(
                        f"storage pool {name!r}: its directory {target} does not exist; create or "
                        "mount it, or set hypervisor.storage_pool to another pool"
                    )
                directory.mkdir(parents=True, exist_ok=True)
            pool.create(0)
        return pool
    except libvirt.libvirtError as e:
        raise HypervisorError(f"preparing storage pool {name!r}: {libvirt_reason(e)}") from e


def find_volume(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise HypervisorError(f"looking up volume {name!r}: {libvirt_reason(e)}") from e


def create_volume(
    pool: libvirt.virStoragePool, name: str, size_gib: int | None, base_image: str | None
) -> str:
    """Create a qcow2 volume (overlay when `base_image`), return its path."""
    capacity = (size_gib or 0) * GIB
    backing = ""
    if base_image is not None:
        fmt, virtual = image_info(base_image)
        capacity = max(capacity, virtual)
        backing = f"<backingStore><path>{escape(base_image)}</path><format type='{fmt}'/></backingStore>"
    xml = (
        f"<volume><name>{escape(name)}</name><capacity unit='bytes'>{capacity}</capacity>"
        f"<target><format type='qcow2'/></target>{backing}</volume>"
    )
    try:
        vol = pool.createXML(xml, 0)
        return vol.path()
    except libvirt.libvirtError as e:
        raise HypervisorError(f"creating volume {name!r} in pool {pool.name()!r}: {libvirt_reason(e)}") from e


def delete_volume(pool: libvirt.virStoragePool, name: str) -> bool:
    vol = find_volume(pool, name)
    if vol is None:
        return False
    try:
        vol.delete(0)
    except libvirt.libvirtError as e:
        raise HypervisorError(f"deleting volume {name!r}: {libvirt_reason(e)}") from e
    return True


def volume_facts(conn: libvirt.virConnect, path: str) -> VolumeFacts | None:
    """Pool, capacity and backing file of the volume at `path`; None when no pool knows it."""
    try:
        vol = conn.storageVolLookupByPath(path)
        pool = vol.storagePoolLookupByVolume()
        info = vol.info()
        root = ET.fromstring(vol.XMLDesc(0))
    except libvirt.libvirtError:
        return None
    return VolumeFacts(
        pool=pool.name(),
        name=vol.name(),
        capacity_bytes=int(info[1]),
        backing=root.findtext("backingStore/path") or None,
    )


def write_seed_iso(dest: Path, vm: str, ci: CloudInitSpec) -> Path:
    """Build the NoCloud seed (volume id `cidata`) for `ci` at `dest`."""
    exe = shutil.which("genisoimage") or shutil.which("mkisofs")
    if exe is None:
        raise HypervisorError("building the cloud-init seed ISO: genisoimage is not installed")
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    meta = ci.meta_data if ci.meta_data is not None else f"instance-id: {vm}\nlocal-hostname: {vm}\n"
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        files = {"user-data": ci.user_data or "", "meta-data": meta}
        if ci.network_config is not None:
            files["network-config"] = ci.network_config
        for fname, content in files.items():
            Path(tmp, fname).write_text(content)
        out = Path(tmp, "seed.iso")
        cmd = [exe, "-output", str(out), "-volid", "cidata", "-joliet", "-rock", "-quiet", *files]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise HypervisorError(f"building the cloud-init seed ISO: {brief(proc.stderr)}")
        out.chmod(0o600)  # user-data may carry secrets; libvirt hands the file to a non-root QEMU
        os.replace(out, dest)
    return dest
