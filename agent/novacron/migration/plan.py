"""What one migration asks of libvirt and of the DWCP channel, computed from options, mode and flags.

Pure functions: libvirt constants arrive as a small `LibvirtConsts` so the choices can be tested
without a connection. Why each choice:

- QEMU's stream goes to `tcp://127.0.0.1:P` (the source agent's tunnel entrance) and the destination
  QEMU listens on `127.0.0.2:P` (the tunnel's exit in its host); different loopback addresses let
  both ends share a port even when the two agents share a network namespace.
- Bandwidth: QEMU caps migration at 32 MiB/s (7.2) or 128 MiB/s unless told otherwise; without a
  limit we lift it so the tunnel, not QEMU, sets the pace.
- Convergence: a guest that dirties memory faster than the link carries it never converges.
  DWCP first shrinks the bytes (HDE); what is left is handled by auto-converge, which throttles the
  guest's vCPUs (up to 99 % of their time) until the dirty rate fits. That costs guest CPU for
  the remaining seconds, never correctness. Post-copy would need QEMU's return path to carry page
  requests with low latency both ways; it is refused (see validate.py).
- The source keeps its definition (no UNDEFINE_SOURCE) until the destination has adopted the VM,
  so an agent crash between those steps never loses the VM's configuration.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from novacron.dwcp.congestion import resolve_congestion
from novacron.dwcp.hde.settings import HdeSettings
from novacron.dwcp.mode.profiles import ModeProfile
from novacron.dwcp.mode.rollout import Flags
from novacron.hypervisor.domain_xml import NS
from novacron_sdk.models.migration import Migration, MigrationOptions

SOURCE_HOST = "127.0.0.1"
DEST_HOST = "127.0.0.2"
UNLIMITED_MIB_S = 1 << 20  # 1 TiB/s: "no cap" for QEMU's max-bandwidth
MIB = 1 << 20
# Bytes the tunnel may hold in its own queues, and unsent bytes per TCP stream in the kernel
# (TCP_NOTSENT_LOWAT; in-flight data is not limited by it). Small on purpose: QEMU judges the link
# by how fast its socket drains, and whatever the tunnel buffers at the switch-over is downtime
# (decisions.md: tunnel-small-buffers).
WINDOW = 4 << 20  # at the start; then WINDOW_S of the measured wire rate, within the bounds
WINDOW_MIN, WINDOW_MAX, WINDOW_S = 1 << 20, 8 << 20, 0.1
NOTSENT_LOWAT = 64 << 10
# The same on an HDE pipe (one TCP connection), larger: its sender thread compresses between writes
# and the link must not run dry meanwhile (1 MiB: ~8 ms of 1 Gbit/s); bounded, because unsent frames
# count in the window (decisions.md: hde-pipe-notsent-lowat).
PIPE_NOTSENT_LOWAT = 1 << 20
# Unsent bytes per multifd connection's raw pipe: QEMU counts queued bytes as sent, and at the
# switch-over its final sync waits for the slowest channel (decisions.md: multifd-notsent-lowat).
MULTIFD_NOTSENT_LOWAT = 256 << 10
HDE_FRAME = 512 << 10
# HDE reads QEMU's pre-copy stream record by record (hde/qemu_records.py): each page body is one
# 4 KiB chunk, deduplicated by content and delta-encoded against the last version of the same guest
# page, so a page rewritten with a few changed bytes costs ~100 bytes instead of ~2 KiB of zstd.
# That needs the previous version of every page still in the dictionary when it is sent again:
# capacity = the guest's pages, bounded by HDE_DICT_MAX. The dictionary holds only pages actually
# sent (zero pages never enter it), but both agents may hold up to HDE_DICT_MAX x 4 KiB (1 GiB) per
# migration for a guest that large and busy; they free it when the migration ends.
HDE_CHUNK = 4 << 10
HDE_DICT_MIN = 16384
HDE_DICT_MAX = 262144
QEMU_SOCKET_BUFFER = 256 << 10
# Auto-converge: QEMU's defaults (20 % then +10 % per pass) need many long passes on a slow link;
# starting at 30 % and stepping 20 % converges in a few passes, at that cost in guest CPU time.
AUTO_CONVERGE_INITIAL = 30
AUTO_CONVERGE_INCREMENT = 20
# zstd level a migration channel starts at. The mode profile's level suits bulk data; a migration's
# encoder shares the host's cores with the guest and QEMU, and higher levels cost far more time than
# the bytes they save (decisions.md: hde-zstd-level). compression.LevelController moves it
# (0 = stored frames .. 6) from the channel's back-pressure while the migration runs.
START_LEVEL = 1
# Bounds for the level controller. Not 0: with page-keyed HDE, zstd-1 runs faster than the TLS and
# framing behind it, and every byte it saves is a byte less to encrypt, send and decrypt on CPUs the
# guest shares. Not above 3: at the switch-over the last pass is encoded while the guest is paused,
# where a slower level is downtime bought for little ratio (decisions.md: hde-zstd-level).
LEVEL_MIN, LEVEL_MAX = 1, 3


@dataclass(frozen=True)
class LibvirtConsts:
    """The libvirt flag bits and parameter names plan() uses (from the libvirt module)."""

    live: int
    persist_dest: int
    auto_converge: int
    parallel: int
    abort_on_error: int
    p_uri: str
    p_listen: str
    p_dest_xml: str
    p_persist_xml: str
    p_bandwidth: str
    p_parallel: str
    p_ac_initial: str
    p_ac_increment: str

    @classmethod
    def from_module(cls, lv: Any) -> LibvirtConsts:
        return cls(
            live=lv.VIR_MIGRATE_LIVE,
            persist_dest=lv.VIR_MIGRATE_PERSIST_DEST,
            auto_converge=lv.VIR_MIGRATE_AUTO_CONVERGE,
            parallel=lv.VIR_MIGRATE_PARALLEL,
            abort_on_error=lv.VIR_MIGRATE_ABORT_ON_ERROR,
            p_uri=lv.VIR_MIGRATE_PARAM_URI,
            p_listen=lv.VIR_MIGRATE_PARAM_LISTEN_ADDRESS,
            p_dest_xml=lv.VIR_MIGRATE_PARAM_DEST_XML,
            p_persist_xml=lv.VIR_MIGRATE_PARAM_PERSIST_XML,
            p_bandwidth=lv.VIR_MIGRATE_PARAM_BANDWIDTH,
            p_parallel=lv.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS,
            p_ac_initial=lv.VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL,
            p_ac_increment=lv.VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT,
        )


def qemu_downtime_ms(options: MigrationOptions) -> int:
    """QEMU's share of the downtime budget: the rest is for the tunnel's pipeline (the bytes in
    flight and queued when QEMU stops the guest, and the return-path round trip)."""
    return max(20, options.max_downtime_ms // 2)


def corrected_downtime_ms(base_ms: int, qemu_bytes_per_s: float, tunnel_bytes_per_s: float) -> int:
    """QEMU's downtime limit, corrected for how fast the tunnel really drains its stream.

    QEMU switches over once what is left fits in (its bandwidth estimate x limit). It measures how
    fast its socket accepts bytes, and the tunnel's entrance accepts bursts faster than the link
    behind it drains them, so the last pass overruns QEMU's budget (decisions.md:
    downtime-correction). Scaling the limit by tunnel/QEMU rate
    makes QEMU's threshold the bytes the tunnel can really move in `base_ms`. Never above base_ms;
    at least 10 ms (QEMU still converges: each pass is smaller than the last when the guest dirties
    less than the tunnel carries)."""
    if qemu_bytes_per_s <= 0 or tunnel_bytes_per_s <= 0:
        return base_ms
    return int(max(10, min(base_ms, base_ms * tunnel_bytes_per_s / qemu_bytes_per_s)))


# Decoded bytes a channel may keep ahead of the destination QEMU (CREDIT frames; see tunnel/reader.py):
# what still waits there when QEMU stops the guest is downtime, and with page deltas 1 MB on the wire
# can be 30 MB for the destination to decode and load. Fixed, not derived from the measured rate:
# a window sized from the rate it limits only ever shrinks. 24 MiB covers ~300 MB/s of decoded
# stream at 50 ms RTT with the pipes' queues. Only on HDE channels: without compression the
# transport's own limits already count the same bytes, and the credit round trip costs throughput
# (decisions.md: credit-window).
RAW_WINDOW = 24 << 20


def window_for(wire_bytes_per_s: float) -> int:
    """The channel's send window for its measured wire rate (see WINDOW)."""
    return int(min(WINDOW_MAX, max(WINDOW_MIN, wire_bytes_per_s * WINDOW_S)))


def bandwidth_mib_s(options: MigrationOptions) -> int:
    if options.bandwidth_limit_mbps is None:
        return UNLIMITED_MIB_S
    return max(1, math.floor(options.bandwidth_limit_mbps * 1_000_000 / 8 / MIB))


def libvirt_call(
    c: LibvirtConsts, options: MigrationOptions, port: int, dest_xml: str, persist_xml: str
) -> tuple[dict[str, Any], int]:
    """(params, flags) for virDomainMigrate3."""
    params: dict[str, Any] = {
        c.p_uri: f"tcp://{SOURCE_HOST}:{port}",
        c.p_listen: DEST_HOST,
        c.p_dest_xml: dest_xml,
        c.p_persist_xml: persist_xml,
        c.p_bandwidth: bandwidth_mib_s(options),
    }
    flags = c.persist_dest | c.abort_on_error
    if options.live:
        flags |= c.live | c.auto_converge
        params[c.p_ac_initial] = AUTO_CONVERGE_INITIAL
        params[c.p_ac_increment] = AUTO_CONVERGE_INCREMENT
    if options.multifd_channels:
        flags |= c.parallel
        params[c.p_parallel] = options.multifd_channels
    return params, flags


@dataclass(frozen=True)
class ChannelPlan:
    """How each QEMU connection is carried: stream count, autotune range, HDE (None: raw bytes)."""

    streams: int
    autotune: tuple[int, int] | None
    congestion: str
    hde: HdeSettings | None
    segment_size: int
    socket_buffer: int
    window: int
    raw_window: int | None = None  # end-to-end credit (decoded bytes ahead of the destination QEMU)
    multifd_compression: str | None = None  # QEMU compresses in its multifd threads (then hde is None)
    pipe: bool = False  # one TLS pipe per QEMU connection instead of AMST channels (datacenter)
    pipe_lowat: int | None = None  # TCP_NOTSENT_LOWAT of a pipe (None: the kernel's default)

    def describe(self) -> str:
        if self.pipe:
            comp = f"QEMU multifd {self.multifd_compression}" if self.multifd_compression else "no compression"
            if self.hde:
                comp = f"HDE {self.hde.algorithm}-{self.hde.level}"
            return f"TLS pipe per QEMU connection, {self.congestion}, {comp}"
        comp = f"HDE {self.hde.algorithm}-{self.hde.level}" if self.hde else "no compression"
        if self.multifd_compression:
            comp = f"QEMU multifd {self.multifd_compression}"
        tune = f", autotune {self.autotune[0]}..{self.autotune[1]}" if self.autotune else ""
        return f"{self.streams} stream(s){tune}, {self.congestion}, {comp}"


def hde_dictionary(memory_mib: int) -> int:
    """Dictionary slots for a guest of `memory_mib`: one per guest page, within the bounds."""
    return max(HDE_DICT_MIN, min(HDE_DICT_MAX, memory_mib * (MIB // HDE_CHUNK)))


QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
ET.register_namespace("qemu", QEMU_NS)  # libvirt's <qemu:commandline>, written with its usual prefix
_MULTIFD_GLOBAL = "migration.multifd-compression="
# With multifd, QEMU compresses in its own channel threads (C, one thread per channel, zstd-1):
# on hosts where CPU and not the link is the limit, compressing once, in parallel, inside the
# hypervisor beats HDE in the agent; the agents then carry already-compressed bytes raw.
MULTIFD_COMPRESSION = "zstd"


# multifd without being asked (options.multifd_channels unset): QEMU's channels, each compressing
# with zstd in its own thread, where the link outruns the agents' HDE coder (one pipe, one coder
# thread). On slower links HDE's page deltas carry a busy guest that multifd cannot converge without
# throttling it. Not in datacenter mode: one raw pipe is fastest there. The link figure is the
# prober's (dwcp/probe), the lower of measured and predicted; unknown means no
# (decisions.md: auto-multifd).
AUTO_MULTIFD_CHANNELS = 4
AUTO_MULTIFD_MIN_MBPS = 300.0


def resolve_multifd(
    options: MigrationOptions, profile: ModeProfile, flags: Flags, link_mbps: float | None
) -> MigrationOptions:
    """`options` with multifd_channels decided (an explicit value is kept)."""
    if options.multifd_channels is not None:
        return options
    rate = min(link_mbps or 0.0, float(options.bandwidth_limit_mbps or math.inf))
    fast = (
        flags.transport and flags.compression and options.streams is None
        and options.compression in ("auto", "zstd") and profile.mode != "datacenter"
        and rate >= AUTO_MULTIFD_MIN_MBPS
    )  # fmt: skip
    return options.model_copy(update={"multifd_channels": AUTO_MULTIFD_CHANNELS if fast else 0})


def multifd_compression(options: MigrationOptions, flags: Flags) -> str | None:
    """The multifd-compression QEMU uses for this migration, or None (QEMU sends pages as they are,
    and HDE may compress them in the agents). QEMU's threads compress in parallel, in C, well ahead
    of HDE per channel in the agents (decisions.md: multifd-qemu-compression)."""
    if options.multifd_channels and flags.compression and options.compression in ("auto", "zstd"):
        return MULTIFD_COMPRESSION
    return None


def with_multifd_compression(xml: str, method: str | None) -> str:
    """The destination definition with QEMU's multifd compression preset to `method` (None: QEMU's
    default, none). Both ends must agree, libvirt 9.0 cannot set it, and the destination QEMU starts
    listening (migrate-incoming) before anyone could change it over the monitor, so it is a -global
    on the command line. A preset an earlier hop left in the live definition is replaced."""
    root = ET.fromstring(xml)
    tag = f"{{{QEMU_NS}}}commandline"
    cmdline = root.find(tag)
    if cmdline is not None:
        args = list(cmdline)
        stale = [i for i in range(len(args) - 1)
                 if args[i].get("value") == "-global" and (args[i + 1].get("value") or "").startswith(_MULTIFD_GLOBAL)]
        for i in stale:
            cmdline.remove(args[i])
            cmdline.remove(args[i + 1])
        if not len(cmdline):
            root.remove(cmdline)
            cmdline = None
    if method is not None:
        cmdline = cmdline if cmdline is not None else ET.SubElement(root, tag)
        for value in ("-global", f"{_MULTIFD_GLOBAL}{method}"):
            ET.SubElement(cmdline, f"{{{QEMU_NS}}}arg", value=value)
    return ET.tostring(root, encoding="unicode")


def channel_plan(
    options: MigrationOptions, profile: ModeProfile, flags: Flags, *, memory_mib: int = 0
) -> ChannelPlan:
    """v3 transport off: one TCP stream, no striping. v3 compression off (or compression "none"):
    raw bytes. "auto" compression in datacenter mode is raw too: there the link outruns the
    encoder (HDE's pass over every chunk costs more than the bytes it could save). TLS pipes, not
    AMST channels, unless a stream count is asked for: with HDE, in datacenter mode (one stream
    fills the link, and a pipe costs the agents far less CPU; decisions.md: tls-pipes) and with
    multifd (QEMU's channels are the streams; decisions.md: multifd-over-pipes)."""
    congestion = resolve_congestion(profile.congestion, mode=profile.mode, v3_transport=flags.transport)
    if flags.transport:
        streams = options.streams or profile.streams_min
        autotune = None if options.streams else (profile.streams_min, profile.streams_max)
    else:
        streams, autotune = 1, None
    if options.multifd_channels and flags.transport and not options.streams:
        # QEMU's channels are the multi-stream already: one TCP stream each, no reassembly across
        # streams, so a loss on one stream stalls only that channel (decisions.md: multifd-one-stream-per-channel)
        streams, autotune = 1, None
    qemu_compression = multifd_compression(options, flags)  # then QEMU's threads compress, the agents carry
    algorithm = options.compression
    if algorithm == "auto":  # the mode's algorithm, but raw in the datacenter (see the docstring)
        algorithm = "none" if profile.mode == "datacenter" else profile.compression_algorithm
    hde: HdeSettings | None = None
    if not qemu_compression and flags.compression and algorithm != "none":
        hde = HdeSettings(
            algorithm=algorithm,
            level=START_LEVEL,
            frame_bytes=HDE_FRAME,
            chunk_size=HDE_CHUNK,
            dict_capacity=hde_dictionary(memory_mib),
            mode="always",  # the level controller decides, from back-pressure
            framing="qemu",
        )
    return ChannelPlan(
        streams=streams,
        autotune=autotune,
        congestion=congestion,
        hde=hde,
        segment_size=profile.segment_bytes,
        socket_buffer=profile.socket_buffer_bytes,
        window=WINDOW,
        raw_window=RAW_WINDOW if hde is not None else None,
        multifd_compression=qemu_compression,
        pipe=flags.transport and not options.streams and (hde is not None or profile.mode == "datacenter" or bool(options.multifd_channels)),
        pipe_lowat=PIPE_NOTSENT_LOWAT if hde is not None else MULTIFD_NOTSENT_LOWAT if options.multifd_channels else None,
    )


def rewrite_domain_xml(xml: str, *, node: str, console_log: str | None) -> str:
    """The domain as the destination must define it: its own node id in our metadata and its own
    console log path (the source's path is in the source agent's data dir)."""
    root = ET.fromstring(xml)
    for el in root.iter(f"{{{NS}}}node"):
        el.text = node
    devices = root.find("devices")
    if devices is not None and console_log:
        for kind in ("serial", "console"):
            for dev in devices.findall(kind):
                src = dev.find("source")
                if dev.get("type") == "file" and src is not None and src.get("path"):
                    src.set("path", console_log)
    return ET.tostring(root, encoding="unicode")


def predict_duration(
    memory_bytes: int, link_bps: float, *, ratio: float = 1.0, dirty_bps: float = 0.0, setup_s: float = 1.0
) -> float:
    """Pre-copy estimate: one pass over memory, then each further pass re-sends what was dirtied
    meanwhile (a geometric series). When the guest dirties faster than the link carries, the
    estimate assumes auto-converge throttles it to half the link rate."""
    effective = max(link_bps * max(ratio, 1.0), 1.0) / 8
    dirty = dirty_bps / 8
    if dirty >= effective:
        dirty = effective / 2
    return round(setup_s + memory_bytes / effective / (1 - dirty / effective), 2)


@dataclass(frozen=True)
class SourcePlan:
    """What the core needs to know of the migration's plan (plan.py decides it)."""

    timeout_s: float
    share_ms: int  # QEMU's share of the downtime budget (plan.qemu_downtime_ms)
    connections: int = 1  # QEMU's main connection + multifd's
    corrects_downtime: bool = False  # the carrier's entrance takes bursts the link does not drain
    limit_bps: float = 0.0  # the request's bandwidth cap


def source_plan(m: Migration, chan: ChannelPlan) -> SourcePlan:
    """Only with HDE or multifd on AMST channels does QEMU's estimate of the link need correcting
    (plan.corrected_downtime_ms); pipes read from QEMU only as the link drains."""
    o = m.options
    return SourcePlan(
        timeout_s=o.timeout_s, share_ms=qemu_downtime_ms(o), connections=1 + (o.multifd_channels or 0),
        corrects_downtime=not chan.pipe and (chan.hde is not None or bool(o.multifd_channels)),
        limit_bps=(o.bandwidth_limit_mbps or 0) * 1e6,
    )  # fmt: skip
