"""Fixtures for the tooling's own tests: one guest build per session, skip reasons in one place."""

from __future__ import annotations

import pytest

from tests.tooling.guest import GuestImage, build_guest, guest_skip_reason


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    """The test guest, built (or taken from the cache) once per session."""
    if reason := guest_skip_reason():
        pytest.skip(reason)
    return build_guest()
