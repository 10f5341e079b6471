"""Run a command as a child subreaper: `python reaper.py CMD ARGS...`.

WHY: libvirtd daemonizes every QEMU it starts, so QEMU's parent is whoever reaps orphans. On this
machine that is pid 1 (the VM's own init, not systemd), which reaps them only every second or so,
and libvirt counts a zombie as alive: it polls `kill(pid, 0)` every 200 ms until the zombie is
gone. Every migration's source teardown and every VM destroy on a test host waited 1.2-2.0 s for
pid 1 (measured: source QEMU a zombie 0.1 s after the switch-over, reaped 1.3-1.6 s later). As a
subreaper (prctl PR_SET_CHILD_SUBREAPER) this process inherits those orphans and reaps them at
once, as systemd does on a real host. It forwards SIGTERM/SIGINT/SIGHUP to CMD and exits with
CMD's status when CMD ends.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: reaper.py CMD [ARGS...]", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        print(f"reaper: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}", file=sys.stderr)
        os.execvp(argv[0], argv)  # no subreaper: run CMD as it would have run anyway
    child = os.fork()
    if child == 0:
        os.execvp(argv[0], argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os.kill(child, signum))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:  # cannot happen while CMD lives; be safe
            return 1
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
