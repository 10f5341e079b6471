"""The collection tarball holds only what the collection ships, whatever else lies in the tree.

The tree is copied (tracked and untracked files, not .git or .venv), littered the way a `make demo`
run and the test suite leave it (JWT and TLS keys, agent databases, logs, tool caches, a virtualenv,
an old tarball), and built with `ansible-galaxy collection build`: every member must sit under
the collection's own paths and none may be a dot-file, a key, a database, a log or bytecode.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.ansible.conftest import BIN, REPO, ansible_env

SHIPPED_FILES = {"MANIFEST.json", "FILES.json", "README.md"}
SHIPPED_DIRS = ("meta", "plugins", "roles", "docs", "LICENSES")
NEVER_SHIPPED = ("*.key", "*.pem", "*.db*", "*.log", "*.pyc")

# What scripts/demo.sh (playbooks/agents.yml with the novacron_agent role, data, config and log
# directories all under .demo/<node>) and the test tools leave behind, plus stray files inside
# the shipped directories.
LITTER = [
    ".demo/cluster-jwt.key",
    ".demo/node-a/jwt.key",
    ".demo/node-a/novacron.yaml",
    ".demo/node-a/novacron.db",
    ".demo/node-a/novacron.db-wal",
    ".demo/node-a/novacron.db-shm",
    ".demo/node-a/agent.log",
    ".demo/node-a/novacron-agent-node-a.log",
    ".demo/node-a/agent.pid",
    ".demo/node-a/tls/agent.key",
    ".demo/node-a/tls/agent.crt",
    ".demo/node-a/tls/ca.crt",
    ".demo/node-a/bin/novacron-agent-node-a-ctl",
    ".demo/node-a/systemd/novacron-agent-node-a.service",
    ".demo/terraform/terraform.tfstate",
    ".schemathesis/default/cache/entries.jsonl",
    ".hypothesis/examples/0a1b2c/3d4e5f",
    ".ruff_cache/0.6.0/1234567890",
    ".pytest_cache/v/cache/nodeids",
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/jwt/__init__.py",
    "venv/lib/python3.11/site-packages/yaml/__init__.py",
    "__pycache__/x.cpython-311.pyc",
    "novacron-cloud-0.0.9.tar.gz",
    "tests/unit/test_litter.py",
    "plugins/modules/__pycache__/vm.cpython-311.pyc",
    "plugins/modules/.vm.py.swp",
    "plugins/modules/.scratch.py",
    "plugins/module_utils/.mypy_cache/3.11/_api.py",
    "roles/novacron_agent/templates/.backup/novacron.yaml.j2",
    "plugins/module_utils/session.key",
    "plugins/inventory/cache.db",
    "roles/novacron_agent/files/jwt.key",
    "roles/novacron_agent/tls/agent.pem",
    "roles/novacron_agent/tasks/.draft.yml",
    "roles/novacron_agent/tasks/debug.log",
    "meta/.DS_Store",
    "LICENSES/.cache/x.txt",
    "docs/.notes.md",
    "docs/run.log",
]


def _copy_tree(dest: Path) -> None:
    """Every file git lists (tracked and untracked, not ignored) as it is in the work tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if rel.split("/", 1)[0] in (".git", ".venv"):
            continue
        src, dst = REPO / rel, dest / rel
        if not src.is_symlink() and not src.exists():
            continue  # deleted in the work tree, not yet in the index
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def shipped(name: str) -> bool:
    """A tarball member under the collection's own paths."""
    return name in SHIPPED_FILES or name.split("/", 1)[0] in SHIPPED_DIRS


def never_shipped(name: str) -> bool:
    """A member no collection ships: dot-files and -directories, keys, databases, logs, bytecode."""
    parts = name.split("/")
    return (any(p.startswith(".") or p == "__pycache__" for p in parts)
            or any(fnmatch.fnmatch(parts[-1], pattern) for pattern in NEVER_SHIPPED))


def test_tarball_ships_only_the_collection_from_a_littered_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    _copy_tree(tree)
    for rel in LITTER:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("litter\n")
        (tree / rel).chmod(0o644)
    out = tmp_path / "out"
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(tree)],
                           capture_output=True, text=True, env=ansible_env(), timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    with tarfile.open(next(out.glob("novacron-cloud-*.tar.gz"))) as tar:
        members = tar.getmembers()
    names = [m.name.rstrip("/") for m in members]

    assert not [n for n in names if not shipped(n)], "outside the collection's paths"
    assert not [n for n in names if never_shipped(n)], "dot-files, keys, databases, logs or bytecode"
    # Only regular files and directories: no symlink or device may point out of the collection.
    assert not [m.name for m in members if not (m.isfile() or m.isdir())]

    # The allow-list is not too narrow: everything git tracks in the shipped paths is in it.
    tracked = subprocess.run(["git", "ls-files", "-z", "--", "README.md", *SHIPPED_DIRS], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split("\0")
    present = [rel for rel in tracked if rel and (REPO / rel).is_file()]
    assert {"plugins/modules/vm.py", "meta/runtime.yml", "roles/novacron_agent/tasks/main.yml"} <= set(present)
    assert sorted(set(present) - set(names)) == []
