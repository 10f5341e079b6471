"""libvirt daemons for tests: the machine's own, and private per-"host" instances.

Why private instances: migration tests need two (or more) libvirt hosts, and a CI machine is one
host. Each ``LibvirtHost`` runs its own ``libvirtd`` in a private mount namespace (and, if asked,
a network namespace) over private copies of libvirt's state folders, with its own host UUID and
hostname, so libvirt treats it as a separate machine. There is no systemd here, so daemons are
started by hand. machine-facts.md records that this set-up migrates real guests.

    uri = ensure_system_libvirtd()            # "qemu:///system"
    with LibvirtHost("src", tmp_path) as a, LibvirtHost("dst", tmp_path, netns="nc-1234-b") as b:
        a.virsh("define", "dom.xml"); a.uri   # qemu+unix:///system?socket=<tmp>/src/run/libvirt-sock
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from ._cmd import ToolingError, is_root, missing_tools, run
from ._state import live_users, locked_state, pid_alive
from .cache import default_cache_dir

SYSTEM_URI = "qemu:///system"
REAPER = Path(__file__).with_name("reaper.py")
# The folders a private host gets its own copy of (bind-mounted in its mount namespace).
PRIVATE_DIRS = {
    "etc": "/etc/libvirt",
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
}
QEMU_CONF = """\
# Written by tests/tooling/libvirtd.py for a private test host.
stdio_handler = "file"
cgroup_controllers = [ ]
security_driver = "none"
remember_owner = 0
dynamic_ownership = 0
user = "root"
group = "root"
# QEMU stays in libvirtd's mount namespace, so stop() can find every process of this host.
namespaces = [ ]
"""

SYSTEM_CAPS = Path("/var/cache/libvirt/qemu/capabilities")


def libvirt_skip_reason() -> str | None:
    """Why libvirt-backed tests cannot run here, or None when they can."""
    if not is_root():
        return "needs root (libvirtd, namespaces)"
    if missing := missing_tools("libvirtd", "virsh", "unshare", "qemu-system-x86_64"):
        return f"missing {', '.join(missing)} (apt-get install libvirt-daemon-system qemu-system-x86)"
    return None


def ensure_system_libvirtd(timeout: float = 30.0, *, stop_at_exit: bool = True) -> str:
    """Makes sure the machine's libvirtd (and virtlogd) run and answer; returns "qemu:///system".

    Idempotent. Daemons found running are never stopped by the tooling. Daemons the tooling
    started are shared by every test process that called this: each registers as a user, and
    at interpreter exit the last live user stops them (unless ``stop_at_exit`` is False, which
    keeps this process from ever counting as a user).
    """
    with locked_state("system-libvirtd") as state:
        users = live_users(state.get("users", []))
        if stop_at_exit and os.getpid() not in users:
            users.append(os.getpid())
            atexit.register(stop_system_libvirtd)
        state["users"] = users
        started: dict[str, int] = state.setdefault("started", {})
        if not _answers(SYSTEM_URI):
            _start_system_daemons(started, timeout)
        if not state["started"]:
            del state["started"]
        if not state.get("started") and not state["users"]:
            state.clear()
    return SYSTEM_URI


def stop_system_libvirtd(timeout: float = 15.0) -> None:
    """Leaves the set of users; the last one stops the daemons the tooling started (if any)."""
    with locked_state("system-libvirtd") as state:
        users = [u for u in live_users(state.get("users", [])) if u != os.getpid()]
        state["users"] = users
        if not users:
            for comm, pid in state.get("started", {}).items():
                if _pidfile_alive(Path(f"/run/{comm}.pid"), comm) == pid:
                    _terminate(pid, timeout)
            state.clear()


def _start_system_daemons(started: dict[str, int], timeout: float) -> None:
    if not is_root():
        raise ToolingError("starting the system libvirtd needs root")
    if missing := missing_tools("libvirtd", "virtlogd", "virsh"):
        raise ToolingError(
            f"missing {', '.join(missing)} (apt-get install libvirt-daemon-system libvirt-clients)"
        )
    for d in ("/var/log/libvirt", "/run/libvirt"):
        os.makedirs(d, exist_ok=True)
    for daemon in ("virtlogd", "libvirtd"):
        pidfile = Path(f"/run/{daemon}.pid")
        if _pidfile_alive(pidfile, daemon) is None:
            run([daemon, "-d"], timeout=30)
            started[daemon] = _wait_pidfile(pidfile, daemon, timeout)
    deadline = time.monotonic() + timeout
    while not _answers(SYSTEM_URI):
        if time.monotonic() > deadline:
            raise ToolingError(f"libvirtd started but {SYSTEM_URI} does not answer after {timeout}s")
        time.sleep(0.2)


class LibvirtHost:
    """A private libvirtd acting as a separate host (own config, state, UUID, hostname, netns).

    name: short label (also the UTS hostname); state_dir: a folder owned by the test (the host's
    files go to state_dir/name); netns: an existing network namespace to run in (QEMU then gets
    that namespace's addresses, e.g. for migration over an emulated link); host_uuid: fixed
    UUID, random by default; caps_cache: where QEMU capability probes are shared between hosts
    (probing takes ~8 s per fresh host; libvirt re-probes by itself if a cached probe is stale);
    migrate_tls_dir: libvirt's migrate_tls_x509_cert_dir (ca-cert.pem, server-/client-cert.pem and keys)
    for migrations with QEMU's own TLS.
    """

    def __init__(
        self,
        name: str,
        state_dir: Path | str,
        *,
        netns: str | None = None,
        host_uuid: str | None = None,
        caps_cache: Path | str | None = None,
        migrate_tls_dir: Path | str | None = None,
    ) -> None:
        if not name or not name.replace("-", "").isalnum() or len(name) > 40:
            raise ValueError(f"name: must be 1-40 letters, digits or '-', got {name!r}")
        self.name = name
        self.root = Path(state_dir).resolve() / name
        for target in PRIVATE_DIRS.values():
            if self.root.is_relative_to(target):
                raise ValueError(
                    f"state_dir: must not be inside {target} (it is replaced in the host's view)"
                )
        self.netns = netns
        self.host_uuid = str(uuid.UUID(host_uuid)) if host_uuid else str(uuid.uuid4())
        self.caps_cache = Path(caps_cache) if caps_cache else default_cache_dir() / "libvirt-qemu-caps"
        self.migrate_tls_dir = Path(migrate_tls_dir) if migrate_tls_dir else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._mnt_ns: str | None = None

    @property
    def run_dir(self) -> Path:
        """This host's /run/libvirt as seen from outside."""
        return self.root / "run"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "libvirt-sock"

    @property
    def uri(self) -> str:
        """The libvirt URI clients outside the host's namespaces use to reach it."""
        return f"qemu+unix:///system?socket={self.socket_path}"

    @property
    def daemon_log(self) -> Path:
        """libvirtd's stdout/stderr (read it when start() fails)."""
        return self.root / "libvirtd.out"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def start(self, timeout: float = 60.0) -> None:
        """Starts the daemon (no-op if running) and waits until it answers on ``uri``."""
        if self.pid is not None:
            return
        if reason := libvirt_skip_reason():
            raise ToolingError(f"cannot start LibvirtHost {self.name}: {reason}")
        self._prepare_dirs()
        for target in PRIVATE_DIRS.values():
            os.makedirs(target, exist_ok=True)  # mount points must exist in the parent namespace
        mounts = " && ".join(
            f"mount --bind {shlex.quote(str(self.root / sub))} {target}"
            for sub, target in PRIVATE_DIRS.items()
        )
        script = (
            f"set -e; {mounts} && hostname {shlex.quote(self.name)} && "
            # under a subreaper: QEMU's orphans are reaped at once (reaper.py says why)
            f"exec {shlex.quote(sys.executable)} {shlex.quote(str(REAPER))} "
            f"libvirtd --pid-file {shlex.quote(str(self.run_dir / 'libvirtd.pid'))}"
        )
        cmd = ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        with open(self.daemon_log, "ab") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (self.socket_path.exists() and _answers(self.uri)):
            if self._proc.poll() is not None:
                tail = self.daemon_log.read_text(errors="replace")[-2000:]
                raise ToolingError(f"libvirtd of host {self.name} exited ({self._proc.returncode}): {tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise ToolingError(f"libvirtd of host {self.name} did not answer within {timeout}s")
            time.sleep(0.2)
        ns = _mnt_ns(self._proc.pid)
        # Never adopt our own mount namespace: stop() kills every process in the adopted one.
        self._mnt_ns = ns if ns != _mnt_ns(os.getpid()) else None

    def stop(self, timeout: float = 15.0) -> None:
        """Stops libvirtd and kills every QEMU (or helper) it started. Idempotent."""
        if self._proc is None:
            return
        victims = set(self._host_processes())
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        victims |= set(self._host_processes())
        victims.discard(self._proc.pid)
        for pid in victims:
            _terminate(pid, timeout=5.0)
        self._proc = None
        _copy_xml(self.root / "cache" / "qemu" / "capabilities", self.caps_cache)

    def virsh(self, *args: str, timeout: float = 120.0) -> str:
        """Runs ``virsh -c <uri> args...`` against this host and returns its stdout."""
        return run(["virsh", "-c", self.uri, *args], timeout=timeout).stdout

    def __enter__(self) -> LibvirtHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _prepare_dirs(self) -> None:
        for sub in PRIVATE_DIRS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        etc = self.root / "etc"
        (etc / "qemu").mkdir(exist_ok=True)
        (etc / "libvirtd.conf").write_text(
            "# Written by tests/tooling/libvirtd.py for a private test host.\n"
            f'host_uuid = "{self.host_uuid}"\n'
            'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n'
        )
        conf = QEMU_CONF
        if self.migrate_tls_dir is not None:  # QEMU's own TLS for migrations (VIR_MIGRATE_TLS)
            conf += f'migrate_tls_x509_cert_dir = "{self.migrate_tls_dir}"\nmigrate_tls_x509_verify = 1\n'
        (etc / "qemu.conf").write_text(conf)
        (etc / "libvirt.conf").write_text("")
        caps = self.root / "cache" / "qemu" / "capabilities"
        if not any(caps.glob("*.xml")):
            _copy_xml(SYSTEM_CAPS, caps)
            _copy_xml(self.caps_cache, caps)
        for stale in ("libvirtd.pid", "libvirt-sock", "libvirt-sock-ro", "libvirt-admin-sock"):
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / stale).unlink()

    def _host_processes(self) -> list[int]:
        """Processes of this host: QEMU pid files, plus anything in libvirtd's mount namespace."""
        pids: set[int] = set()
        for pidfile in (self.run_dir / "qemu").glob("*.pid"):
            with contextlib.suppress(ValueError, OSError):
                pids.add(int(pidfile.read_text().strip()))
        if self._mnt_ns:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit() and _mnt_ns(int(entry.name)) == self._mnt_ns:
                    pids.add(int(entry.name))
        pids.discard(os.getpid())
        return sorted(pids)


def _copy_xml(src: Path, dest: Path) -> None:
    """Copies capability probes (best effort: a missing or unreadable cache only costs time)."""
    try:
        files = list(src.glob("*.xml"))
        if files:
            dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            tmp = dest / f".{f.name}.{os.getpid()}.tmp"
            shutil.copyfile(f, tmp)
            tmp.replace(dest / f.name)
    except OSError:
        pass


def _answers(uri: str) -> bool:
    if missing_tools("virsh"):
        return False
    return run(["virsh", "-c", uri, "uri"], check=False, timeout=20).returncode == 0


def _mnt_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _pidfile_alive(pidfile: Path, comm: str) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
            return pid
    except (OSError, ValueError):
        pass
    return None


def _wait_pidfile(pidfile: Path, comm: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (pid := _pidfile_alive(pidfile, comm)) is None:
        if time.monotonic() > deadline:
            raise ToolingError(f"{comm} -d did not write a live pid to {pidfile} within {timeout}s")
        time.sleep(0.1)
    return pid


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; quiet if the process is already gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
