"""Fuzz every peer endpoint with a valid node credential: no input gives a 5xx, and an input that
is refused leaves the destination exactly as it was (no record, no relay, no domain touched)."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.peer.harness import Destination, Pki
from tests.unit.peer.test_peer_protocol import SPEC, define_domain, migration, prepare_body

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
IDS = (st.sampled_from(["m1", "m2", "", "..", "m1%2F..", "a" * 65, "%C3%BCmlaut", "m1?x=1", "m1#f"])
       | st.text(max_size=12).map(lambda t: quote(t, safe="")))
SOURCES = st.sampled_from(["node-a", "node-c"])


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """A valid body with a few values replaced by arbitrary JSON, or arbitrary JSON altogether."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        node, keys = doc, []
        while isinstance(node, dict) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node)))
            keys.append(key)
            if not isinstance(node[key], dict):
                break
            node = node[key]
        target = doc
        for key in keys[:-1]:
            target = target[key]
        if keys:
            target[keys[-1]] = draw(JSON)
        else:
            doc[draw(st.text(min_size=1, max_size=8))] = draw(JSON)
    return doc


def _run(tmp: Path, pki: Pki, method: str, path_for: Any, body: Any, caller: str, setup: Any = None) -> None:
    async def go() -> None:
        dest = Destination(tmp, pki)
        try:
            if setup is not None:
                await setup(dest)
            before = dest.leftovers()
            r = await dest.peer_call(caller, method, path_for, body if body is not None else None)
            assert r.status_code < 500, r.text
            if r.status_code >= 400:
                assert dest.leftovers() == before, (r.status_code, r.text)
            # whatever was accepted is what the API would accept: nothing stored needs quarantining
            dest.store.list_vms()
            dest.store.list_migrations()
            assert dest.store.count_quarantined() == 0
            for mig_id, inc in dest.migrations.incoming.active.items():
                record = dest.migrations.incoming.stored_record(mig_id)
                assert record is None or record.spec.name == inc.migration.vm
        finally:
            await dest.close()

    asyncio.run(go())


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(mig_id=IDS, body=mutated(prepare_body()), caller=SOURCES)
def test_fuzz_prepare(tmp_path_factory: Any, pki: Pki, mig_id: str, body: Any, caller: str) -> None:
    async def leftover_domain(dest: Destination) -> None:
        define_domain(dest, "web")

    _run(tmp_path_factory.mktemp("d"), pki, "POST", f"/peer/migrations/{mig_id}/prepare", body, caller, leftover_domain)


@FUZZ
@given(mig_id=IDS, body=mutated({"migration": migration(phase="switchover"), "record": {"spec": SPEC}}),
       caller=SOURCES)  # fmt: skip
def test_fuzz_complete(tmp_path_factory: Any, pki: Pki, mig_id: str, body: Any, caller: str) -> None:
    async def prepared(dest: Destination) -> None:
        r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body())
        assert r.status_code == 200, r.text
        define_domain(dest, "web")  # the VM "arrived" and runs: only the real source may hand it over
        dest.driver.conn.lookupByName("web").create()

    _run(tmp_path_factory.mktemp("d"), pki, "POST", f"/peer/migrations/{mig_id}/complete", body, caller, prepared)


@FUZZ
@given(mig_id=IDS, body=mutated({"phase": "failed", "error": "x"}), caller=SOURCES)
def test_fuzz_abort(tmp_path_factory: Any, pki: Pki, mig_id: str, body: Any, caller: str) -> None:
    async def prepared(dest: Destination) -> None:
        r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body())
        assert r.status_code == 200, r.text

    _run(tmp_path_factory.mktemp("d"), pki, "POST", f"/peer/migrations/{mig_id}/abort", body, caller, prepared)


@FUZZ
@given(name=IDS, caller=SOURCES)
def test_fuzz_vm_lookup(tmp_path_factory: Any, pki: Pki, name: str, caller: str) -> None:
    _run(tmp_path_factory.mktemp("d"), pki, "GET", f"/peer/vms/{name}", None, caller)
