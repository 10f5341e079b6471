"""Fixtures for the pki tests: a cluster CA made by novacron.pki, and a permissive umask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from novacron.pki.authority import SigningCA, create_ca


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000: files must still come out 0600/0644 because the code sets modes itself."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    return tmp_path / "ca"


@pytest.fixture
def ca(ca_dir: Path) -> SigningCA:
    return create_ca(ca_dir)
