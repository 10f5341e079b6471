"""The time budget every wait polls through: the engine's timeout and its Cancel both end it."""

from __future__ import annotations

import threading

import pytest
from pulumi_resource_novacron.deadline import DEFAULT_TIMEOUT_S, Cancelled, Deadline, Expired


def test_cancel_ends_a_wait_at_once_and_says_what_it_waited_for() -> None:
    cancel = threading.Event()
    deadline = Deadline(3600, cancel)
    cancel.set()
    with pytest.raises(Cancelled, match="waiting for VM 'x'"):
        deadline.sleep(3600, "waiting for VM 'x'")


def test_an_exhausted_budget_expires() -> None:
    deadline = Deadline(1e-9, threading.Event())
    with pytest.raises(Expired, match="timed out after"):
        deadline.sleep(0.01, "waiting for migration m-1")
    assert deadline.http_timeout() > 0  # a last request can still fail cleanly


def test_no_engine_timeout_means_the_default_budget() -> None:
    assert Deadline(0, threading.Event()).timeout_s == DEFAULT_TIMEOUT_S
