"""The test guest's kernel: Debian's cloud kernel, fetched with apt and cached.

Why the cloud flavour: it is small, boots in ~2 s under TCG and has the serial console and
initramfs support built in. Why a cache: a fresh CI machine downloads the package once
(`apt-get download`, ~27 MB); later runs (and machines sharing the cache folder) reuse it
without any network. A cached kernel is used as is; delete the folder to pick up a newer one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._cmd import ToolingError, missing_tools, run

META_PACKAGE = "linux-image-cloud-amd64"
ENV_PACKAGE = "NOVACRON_GUEST_KERNEL_PACKAGE"


@dataclass(frozen=True)
class CachedKernel:
    """A kernel ready to boot: vmlinuz, its config, and the requested modules in load order."""

    package: str
    version: str
    vmlinuz: Path
    config: Path
    modules: tuple[Path, ...]


def kernel_package() -> str:
    """Names the concrete cloud kernel package (env NOVACRON_GUEST_KERNEL_PACKAGE, else apt's pick)."""
    if os.environ.get(ENV_PACKAGE):
        return os.environ[ENV_PACKAGE]
    if missing_tools("apt-cache"):
        raise ToolingError(
            "apt-cache not found: the guest kernel comes from Debian's linux-image-cloud-amd64"
        )
    out = run(["apt-cache", "depends", META_PACKAGE], check=False)
    match = re.search(r"Depends:\s*(linux-image-\S+-cloud-amd64)\b", out.stdout)
    if out.returncode != 0 or not match:
        raise ToolingError(
            f"cannot resolve {META_PACKAGE} with apt-cache (run `apt-get update`?): "
            f"{(out.stderr or out.stdout).strip()[:300]}"
        )
    return match.group(1)


def fetch_kernel(cache_dir: Path, modules: Sequence[str], package: str | None = None) -> CachedKernel:
    """Returns the cached kernel under ``cache_dir/kernel``, downloading it first if needed.

    ``modules`` are module names (e.g. "button", "virtio_net"); their dependencies are added and
    the result is ordered so that each module comes after the ones it depends on.
    """
    root = cache_dir / "kernel"
    root.mkdir(parents=True, exist_ok=True)
    if package is None and not os.environ.get(ENV_PACKAGE):
        cached = sorted(p.name for p in root.iterdir() if (p / "COMPLETE").exists())
        package = cached[-1] if cached else kernel_package()
    elif package is None:
        package = kernel_package()
    kdir = root / package
    if not (kdir / "COMPLETE").exists() or not _has_modules(kdir, modules):
        _extract(root, package, kdir, modules)
    version = (kdir / "VERSION").read_text().strip()
    order = _load_order(kdir / "modules", modules)
    return CachedKernel(
        package=package,
        version=version,
        vmlinuz=kdir / "vmlinuz",
        config=kdir / "config",
        modules=tuple(kdir / "modules" / f"{m}.ko" for m in order),
    )


def _has_modules(kdir: Path, modules: Sequence[str]) -> bool:
    try:
        _load_order(kdir / "modules", modules)
    except ToolingError:
        return False
    return True


def _download(root: Path, package: str) -> Path:
    debs = sorted(root.glob(f"{package}_*.deb"))
    if debs:
        return debs[-1]
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        os.chmod(tmp, 0o777)  # apt drops privileges to _apt for downloads when it can
        run(["apt-get", "download", "-q", package], cwd=tmp, timeout=600)
        got = sorted(Path(tmp).glob(f"{package}_*.deb"))
        if not got:
            raise ToolingError(f"apt-get download {package} produced no .deb")
        dest = root / got[-1].name
        shutil.move(str(got[-1]), dest)
    return dest


def _extract(root: Path, package: str, kdir: Path, modules: Sequence[str]) -> None:
    deb = _download(root, package)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tree = Path(tmp) / "x"
        run(["dpkg-deb", "-x", str(deb), str(tree)], timeout=300)
        vmlinuz = sorted((tree / "boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise ToolingError(f"{deb.name} contains no boot/vmlinuz-*")
        version = vmlinuz[0].name.removeprefix("vmlinuz-")
        stage = Path(tmp) / "stage"
        (stage / "modules").mkdir(parents=True)
        shutil.copy2(vmlinuz[0], stage / "vmlinuz")
        shutil.copy2(tree / "boot" / f"config-{version}", stage / "config")
        (stage / "VERSION").write_text(version + "\n")
        index = {p.name.removesuffix(".ko"): p for p in (tree / "lib" / "modules" / version).rglob("*.ko")}
        for name in _closure(modules, lambda n: _depends(_find(index, n))):
            shutil.copy2(_find(index, name), stage / "modules" / f"{_norm(name)}.ko")
        (stage / "COMPLETE").write_text(deb.name + "\n")
        if kdir.exists():
            shutil.rmtree(kdir)
        stage.rename(kdir)


def _norm(name: str) -> str:
    return name.replace("-", "_")


def _find(index: dict[str, Path], name: str) -> Path:
    for candidate in (name, name.replace("_", "-"), _norm(name)):
        if candidate in index:
            return index[candidate]
    raise ToolingError(f"kernel module {name!r} not found in the guest kernel package")


def _depends(ko: Path) -> list[str]:
    """Reads ``depends=`` from the module's .modinfo section (no kmod needed on the host)."""
    data = ko.read_bytes()
    match = re.search(rb"\0depends=([^\0]*)\0", data)
    if not match or not match.group(1):
        return []
    return [d.decode() for d in match.group(1).split(b",") if d]


def _closure(modules: Sequence[str], deps_of: Callable[[str], list[str]]) -> list[str]:
    """Depth-first: dependencies first, each module once."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        key = _norm(name)
        if key in seen:
            return
        if key in path:
            raise ToolingError(f"kernel module dependency cycle: {' -> '.join(path + (key,))}")
        for dep in deps_of(name):
            visit(dep, path + (key,))
        seen.add(key)
        order.append(key)

    for m in modules:
        visit(m, ())
    return order


def _load_order(mod_dir: Path, modules: Sequence[str]) -> list[str]:
    def deps(name: str) -> list[str]:
        ko = mod_dir / f"{_norm(name)}.ko"
        if not ko.exists():
            raise ToolingError(f"kernel module {name!r} missing from the cache {mod_dir}")
        return _depends(ko)

    return _closure(modules, deps)
