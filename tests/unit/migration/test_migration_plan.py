"""What a migration asks of libvirt and of the channel, per options, mode and v3 flags."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt
import pytest

from novacron.config.model import DwcpConfig
from novacron.dwcp.mode.profiles import profile_for
from novacron.dwcp.mode.rollout import Flags
from novacron.hypervisor.domain_xml import NS
from novacron.migration import plan
from novacron_sdk.models.migration import MigrationOptions

C = plan.LibvirtConsts.from_module(libvirt)
ON = Flags(transport=True, compression=True, prediction=True)


def test_libvirt_call_points_qemu_at_the_tunnel_and_lifts_the_bandwidth_cap() -> None:
    params, flags = plan.libvirt_call(C, MigrationOptions(), 49321, "<d/>", "<p/>")
    assert params[libvirt.VIR_MIGRATE_PARAM_URI] == "tcp://127.0.0.1:49321"
    assert params[libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS] == "127.0.0.2"
    assert params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] == plan.UNLIMITED_MIB_S
    assert flags & libvirt.VIR_MIGRATE_LIVE and flags & libvirt.VIR_MIGRATE_AUTO_CONVERGE
    assert flags & libvirt.VIR_MIGRATE_PERSIST_DEST
    assert not flags & libvirt.VIR_MIGRATE_UNDEFINE_SOURCE  # the source forgets only after adoption
    assert not flags & libvirt.VIR_MIGRATE_PARALLEL


def test_libvirt_call_options() -> None:
    opts = MigrationOptions(live=False, bandwidth_limit_mbps=100, multifd_channels=4)
    params, flags = plan.libvirt_call(C, opts, 1, "", "")
    assert params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] == 11  # 100 Mbit/s = 11.9 MiB/s, rounded down
    assert params[libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] == 4 and flags & libvirt.VIR_MIGRATE_PARALLEL
    assert not flags & libvirt.VIR_MIGRATE_LIVE and not flags & libvirt.VIR_MIGRATE_AUTO_CONVERGE


@pytest.mark.parametrize("mode", ["datacenter", "hybrid", "internet"])
def test_channel_plan_per_mode(mode: str) -> None:
    profile = profile_for(mode, DwcpConfig())  # type: ignore[arg-type]
    p = plan.channel_plan(MigrationOptions(), profile, ON)
    assert p.streams == profile.streams_min and p.autotune == (profile.streams_min, profile.streams_max)
    assert p.congestion == profile.congestion
    if mode == "datacenter":
        assert p.hde is None  # the link outruns the encoder
    else:
        assert p.hde is not None and p.hde.algorithm == "zstd" and p.hde.level == plan.START_LEVEL


def test_v3_flags_off_and_explicit_options() -> None:
    profile = profile_for("internet", DwcpConfig())
    p = plan.channel_plan(MigrationOptions(), profile, Flags(transport=False, compression=True, prediction=True))
    assert (p.streams, p.autotune, p.congestion) == (1, None, "cubic")
    p = plan.channel_plan(MigrationOptions(), profile, Flags(transport=True, compression=False, prediction=True))
    assert p.hde is None
    p = plan.channel_plan(MigrationOptions(streams=8, compression="none"), profile, ON)
    assert (p.streams, p.autotune, p.hde) == (8, None, None)
    dc = profile_for("datacenter", DwcpConfig())
    p = plan.channel_plan(MigrationOptions(compression="lz4"), dc, ON)
    assert p.hde is not None and p.hde.algorithm == "lz4" and p.hde.mode == "always"


def test_tls_pipes_carry_raw_datacenter_and_hde_migrations() -> None:
    dc, internet = profile_for("datacenter", DwcpConfig()), profile_for("internet", DwcpConfig())
    assert plan.channel_plan(MigrationOptions(), dc, ON).pipe
    assert plan.channel_plan(MigrationOptions(multifd_channels=4), dc, ON).pipe  # one pipe per QEMU connection
    assert "TLS pipe" in plan.channel_plan(MigrationOptions(), dc, ON).describe()
    hde = plan.channel_plan(MigrationOptions(), internet, ON)  # HDE frames over a pipe
    assert hde.pipe and hde.hde is not None and "HDE zstd-1" in hde.describe()
    # frames wait in the process, not unsent in the kernel inside the window; raw pipes keep the default
    assert hde.pipe_lowat == plan.PIPE_NOTSENT_LOWAT
    assert plan.channel_plan(MigrationOptions(), dc, ON).pipe_lowat is None
    assert plan.channel_plan(MigrationOptions(compression="lz4"), dc, ON).pipe
    # multifd everywhere: QEMU's channels are the streams, QEMU's zstd or HDE per pipe
    multifd = plan.channel_plan(MigrationOptions(multifd_channels=4), internet, ON)
    assert multifd.pipe and multifd.multifd_compression == "zstd" and "QEMU multifd zstd" in multifd.describe()
    # each of QEMU's channels keeps little unsent in the kernel: the final sync waits for the slowest
    assert multifd.pipe_lowat == plan.MULTIFD_NOTSENT_LOWAT
    assert plan.channel_plan(MigrationOptions(multifd_channels=4), dc, ON).pipe_lowat == plan.MULTIFD_NOTSENT_LOWAT
    assert plan.channel_plan(MigrationOptions(multifd_channels=4, compression="none"), internet, ON).pipe
    # AMST where striping was asked for, for raw bytes outside the datacenter without multifd
    # (compression off), or with the v3 transport off
    assert not plan.channel_plan(MigrationOptions(streams=4), dc, ON).pipe
    assert not plan.channel_plan(MigrationOptions(streams=4), internet, ON).pipe
    assert not plan.channel_plan(MigrationOptions(multifd_channels=4, streams=4), internet, ON).pipe
    assert not plan.channel_plan(MigrationOptions(compression="none"), internet, ON).pipe
    off = Flags(transport=False, compression=True, prediction=True)
    assert not plan.channel_plan(MigrationOptions(), dc, off).pipe
    assert not plan.channel_plan(MigrationOptions(), internet, off).pipe


def test_hde_reads_qemu_records_with_a_dictionary_sized_to_the_guest() -> None:
    profile = profile_for("internet", DwcpConfig())
    small = plan.channel_plan(MigrationOptions(), profile, ON, memory_mib=64)
    mid = plan.channel_plan(MigrationOptions(), profile, ON, memory_mib=512)
    huge = plan.channel_plan(MigrationOptions(), profile, ON, memory_mib=64 << 10)
    assert small.hde and mid.hde and huge.hde
    assert (small.hde.framing, small.hde.chunk_size) == ("qemu", 4096)
    assert small.hde.dict_capacity == plan.HDE_DICT_MIN  # 64 MiB = 16384 pages
    assert mid.hde.dict_capacity == 512 * 256  # one slot per 4 KiB page of the guest
    assert huge.hde.dict_capacity == plan.HDE_DICT_MAX  # bounded: 1 GiB of pages per side
    # the receiving agent's decoder accepts that dictionary (its default bound is 1 GiB)
    assert plan.HDE_DICT_MAX * plan.HDE_CHUNK <= 1 << 30


def test_downtime_limit_follows_the_tunnel_not_qemus_estimate() -> None:
    assert plan.corrected_downtime_ms(150, 263e6, 117e6) == 66  # QEMU overrates the link 2.25x
    assert plan.corrected_downtime_ms(150, 100e6, 200e6) == 150  # never above the budget
    assert plan.corrected_downtime_ms(150, 1e9, 1e6) == 10  # floor: QEMU must still be able to finish
    assert plan.corrected_downtime_ms(150, 0, 1e6) == 150  # no estimate yet: unchanged
    assert plan.corrected_downtime_ms(150, 1e6, 0) == 150


def test_level_controller_stays_within_the_migration_bounds() -> None:
    from novacron.migration.amst_carrier import level_controller

    ctl = level_controller(0)
    assert ctl.level == plan.LEVEL_MIN
    levels = {ctl.on_sample(0.0) for _ in range(20)} | {ctl.level}
    assert min(x for x in levels if x is not None) == plan.LEVEL_MIN  # an empty window never stores raw
    levels = {ctl.on_sample(1.0) for _ in range(20)}
    assert max(x for x in levels if x is not None) == plan.LEVEL_MAX == ctl.level


def test_rewrite_domain_xml_moves_node_and_console() -> None:
    xml = (
        f"<domain type='qemu' xmlns:novacron='{NS}'><name>w</name><metadata><novacron:vm>"
        "<novacron:node>node-a</novacron:node></novacron:vm></metadata><devices>"
        "<serial type='file'><source path='/a/vms/w/console.log' append='on'/><target port='0'/></serial>"
        "<console type='file'><source path='/a/vms/w/console.log'/></console>"
        "<serial type='pty'><target port='1'/></serial></devices></domain>"
    )
    out = ET.fromstring(plan.rewrite_domain_xml(xml, node="node-b", console_log="/b/vms/w/console.log"))
    assert out.find(f"metadata/{{{NS}}}vm/{{{NS}}}node").text == "node-b"  # type: ignore[union-attr]
    paths = [s.get("path") for s in out.iter("source")]
    assert paths == ["/b/vms/w/console.log", "/b/vms/w/console.log"]
    assert out.find("devices/serial/source").get("append") == "on"  # type: ignore[union-attr]


def test_predicted_duration_grows_with_dirtying_and_shrinks_with_compression() -> None:
    base = plan.predict_duration(1 << 30, 1e9)
    assert base == pytest.approx(1 + (1 << 30) / 125e6, rel=0.01)
    assert plan.predict_duration(1 << 30, 1e9, dirty_bps=5e8) > base
    assert plan.predict_duration(1 << 30, 1e9, ratio=2.0) < base
    # dirtying faster than the link: auto-converge assumed, still a finite answer
    assert plan.predict_duration(1 << 30, 1e8, dirty_bps=1e9) < float("inf")


def test_with_multifd_qemu_compresses_in_its_channel_threads() -> None:
    """multifd + zstd (or auto): QEMU's threads compress, the agents carry the bytes raw, one stream
    per QEMU connection; lz4 (QEMU has none for multifd) and "none" stay with the agents."""
    profile = profile_for("internet", DwcpConfig())
    p = plan.channel_plan(MigrationOptions(multifd_channels=4), profile, ON, memory_mib=2048)
    assert p.multifd_compression == "zstd" and p.hde is None and p.raw_window is None
    assert (p.streams, p.autotune) == (1, None)
    assert "QEMU multifd zstd" in p.describe()
    assert plan.channel_plan(MigrationOptions(multifd_channels=4, compression="zstd"), profile, ON).multifd_compression
    lz4 = plan.channel_plan(MigrationOptions(multifd_channels=4, compression="lz4"), profile, ON)
    assert lz4.multifd_compression is None and lz4.hde is not None and lz4.hde.algorithm == "lz4"
    none = plan.channel_plan(MigrationOptions(multifd_channels=4, compression="none"), profile, ON)
    assert none.multifd_compression is None and none.hde is None
    off = Flags(transport=True, compression=False, prediction=True)
    assert plan.channel_plan(MigrationOptions(multifd_channels=4), profile, off).multifd_compression is None
    fixed = plan.channel_plan(MigrationOptions(multifd_channels=4, streams=8), profile, ON)
    assert fixed.streams == 8  # an explicit stream count wins
    assert plan.channel_plan(MigrationOptions(), profile, ON).multifd_compression is None


def _multifd_globals(xml: str) -> list[str]:
    root = ET.fromstring(xml)
    args = [a.get("value") or "" for a in root.iter(f"{{{plan.QEMU_NS}}}arg")]
    return [v for f, v in zip(args, args[1:], strict=False) if f == "-global" and "multifd" in v]


def test_destination_xml_presets_multifd_compression_once() -> None:
    base = "<domain type='qemu'><name>vm</name><memory>1</memory></domain>"
    once = plan.with_multifd_compression(base, "zstd")
    assert _multifd_globals(once) == ["migration.multifd-compression=zstd"]
    # a later hop replaces the preset instead of adding a second (conflicting) one
    assert _multifd_globals(plan.with_multifd_compression(once, "zstd")) == ["migration.multifd-compression=zstd"]
    cleared = plan.with_multifd_compression(once, None)
    assert _multifd_globals(cleared) == [] and ET.fromstring(cleared).find(f"{{{plan.QEMU_NS}}}commandline") is None
    # other pass-through arguments survive
    other = ("<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>vm</name>"
             "<qemu:commandline><qemu:arg value='-set'/><qemu:arg value='x=1'/></qemu:commandline></domain>")
    kept = plan.with_multifd_compression(plan.with_multifd_compression(other, "zstd"), None)
    assert [a.get("value") for a in ET.fromstring(kept).iter(f"{{{plan.QEMU_NS}}}arg")] == ["-set", "x=1"]
    assert ET.fromstring(once).findtext("name") == "vm"


def test_multifd_is_chosen_for_fast_links_outside_the_datacenter_only() -> None:
    """Unset multifd_channels: 4 channels with QEMU's zstd where the prober saw a fast link outside
    the datacenter, off elsewhere; an explicit value is never overridden."""
    dc, hybrid, internet = (profile_for(m, DwcpConfig()) for m in ("datacenter", "hybrid", "internet"))
    fast, slow = plan.AUTO_MULTIFD_MIN_MBPS * 2, plan.AUTO_MULTIFD_MIN_MBPS / 3

    def chosen(opts: MigrationOptions, profile: object = internet, mbps: float | None = fast, flags: Flags = ON) -> int | None:
        return plan.resolve_multifd(opts, profile, flags, mbps).multifd_channels  # type: ignore[arg-type]

    assert MigrationOptions().multifd_channels is None
    assert chosen(MigrationOptions()) == plan.AUTO_MULTIFD_CHANNELS == 4
    assert chosen(MigrationOptions(), hybrid) == 4
    assert chosen(MigrationOptions(), dc) == 0  # one raw pipe is fastest there
    assert chosen(MigrationOptions(), internet, slow) == 0  # HDE's page deltas carry a busy guest there
    assert chosen(MigrationOptions(), internet, None) == 0  # nothing measured yet: the safe path
    assert chosen(MigrationOptions(bandwidth_limit_mbps=100)) == 0  # the operator's cap makes it slow
    assert chosen(MigrationOptions(bandwidth_limit_mbps=10_000)) == 4
    assert chosen(MigrationOptions(streams=8)) == 0  # AMST striping asked for
    assert chosen(MigrationOptions(compression="lz4")) == 0  # QEMU's multifd has no lz4
    assert chosen(MigrationOptions(compression="none")) == 0
    assert chosen(MigrationOptions(), flags=Flags(transport=False, compression=True, prediction=True)) == 0
    assert chosen(MigrationOptions(), flags=Flags(transport=True, compression=False, prediction=True)) == 0
    assert chosen(MigrationOptions(multifd_channels=0)) == 0  # explicit values are kept
    assert chosen(MigrationOptions(multifd_channels=2), dc, None) == 2
    # what was chosen drives the plan: QEMU's zstd on one pipe per QEMU connection
    resolved = plan.resolve_multifd(MigrationOptions(), internet, ON, fast)
    assert plan.channel_plan(resolved, internet, ON).multifd_compression == "zstd"
    assert plan.channel_plan(plan.resolve_multifd(MigrationOptions(), internet, ON, slow), internet, ON).hde is not None
