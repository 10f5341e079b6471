"""Make the provider installable by `terraform init` without a registry: a filesystem mirror.

Terraform looks providers up as HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION
under a `filesystem_mirror` directory. The executable there is a two-line shell wrapper that execs
the installed `terraform-provider-novacron`, so the mirror stays valid across reinstalls of the
Python package and `init` computes a stable lock-file hash for it.
"""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path

from novacron_tf import SOURCE_ADDRESS, __version__

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def target() -> str:
    return f"{sys.platform if sys.platform != 'linux2' else 'linux'}_{_ARCH.get(platform.machine().lower(), 'amd64')}"


def default_executable() -> Path:
    found = shutil.which("terraform-provider-novacron") or str(Path(sys.executable).parent / "terraform-provider-novacron")
    return Path(found).resolve()


def write_mirror(directory: Path, executable: Path | None = None, version: str = __version__) -> Path:
    """Create the mirror layout; returns the wrapper's path."""
    exe = (executable or default_executable()).resolve()
    pkg_dir = Path(directory) / SOURCE_ADDRESS / version / target()
    pkg_dir.mkdir(parents=True, exist_ok=True)
    wrapper = pkg_dir / f"terraform-provider-novacron_v{version}"
    wrapper.write_text(f'#!/bin/sh\nexec "{exe}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def cli_config(directory: Path) -> str:
    """A Terraform CLI configuration (TF_CLI_CONFIG_FILE) that installs NovaCron from the mirror."""
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{Path(directory).resolve()}"\n'
        '    include = ["registry.terraform.io/novacron/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/novacron/*"]\n  }\n'
        "}\n"
    )
