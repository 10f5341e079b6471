"""HTTP from the test process into a test-bed namespace, without a helper process per request.

setns(CLONE_NEWNET) is per thread on Linux and a socket belongs to the namespace of the thread
that creates it, so one worker thread that entered the namespace can talk to agents listening
on addresses (and loopback) that exist only there. The rest of the test stays where it was.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def _enter(ns: str) -> None:
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns}): {os.strerror(err)}")
    finally:
        os.close(fd)


class NsClient:
    """`get`/`put` against an agent's API (and anything else) from inside namespace `ns`."""

    def __init__(self, ns: str, base_url: str, token: str = "") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ns-{ns}",
                                        initializer=_enter, initargs=(ns,))
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client: httpx.Client | None = None
        self.base_url = base_url

    def call(self, fn: Callable[[], T]) -> T:
        return self._pool.submit(fn).result(timeout=60)

    def _http(self) -> httpx.Client:  # created in the worker thread, so its sockets live in the namespace
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=10.0)
        return self._client

    def get(self, path: str) -> httpx.Response:
        return self.call(lambda: self._http().get(path))

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.call(lambda: self._http().put(path, json=body))

    def fetch(self, url: str) -> str:
        return self.call(lambda: httpx.get(url, timeout=10.0).text)

    def close(self) -> None:
        def _close() -> None:
            if self._client is not None:
                self._client.close()

        self.call(_close)
        self._pool.shutdown(wait=True)
