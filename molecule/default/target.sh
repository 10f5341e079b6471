#!/usr/bin/env bash
# The Molecule target: a fresh Debian 12 root file system running in its own mount, PID, UTS,
# IPC and network namespaces -- a separate "host" on this machine, reached with the
# novacron.cloud.nsenter connection plugin (ansible_host = the pid file written here).
#
#   target.sh create DIR    unpack the cached rootfs into DIR/rootfs, start the target,
#                           write DIR/target.pid (its init, as seen from this machine)
#   target.sh destroy DIR   kill the target (every process in it dies with its init), remove DIR
#   target.sh rootfs        only build the cache
#
# Why a cache: debootstrap takes minutes and needs the Debian mirror; the tarball it leaves in
# $NOVACRON_MOLECULE_CACHE (default /var/cache/novacron-molecule) is keyed by the package list, so
# a fresh machine builds it once and later runs just unpack it. The target has no network (its
# namespace holds only lo), so everything the role installs must already be in it or be copied in.
set -euo pipefail

SUITE=bookworm
# What a fresh host needs for the role with the hypervisor packages left out (the test target
# drives libvirt's in-process test:///default driver, so libvirt0 is enough): python3 (Ansible),
# python3-apt (the apt module), python3-venv and passwd (useradd); openssl is not the role's any
# more (the agent's CLI makes its TLS material) but verify.yml checks the certificate with it.
INCLUDE=python3,python3-apt,python3-venv,libvirt0,openssl,passwd,ca-certificates
CACHE=${NOVACRON_MOLECULE_CACHE:-/var/cache/novacron-molecule}
KEY=$(printf '%s %s v1' "$SUITE" "$INCLUDE" | sha256sum | cut -c1-12)
TARBALL=$CACHE/rootfs-$SUITE-$KEY.tar

log() { printf '[molecule target] %s\n' "$*" >&2; }

mirror() {
  # The same mirror the machine's own apt uses (deb822 sources first, then sources.list).
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | head -1 | awk '{print $2}' || true)
  [[ -n $uri ]] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | grep -v security | head -1 | awk '{print $2}' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

build_rootfs() {
  [[ -f $TARBALL ]] && return
  mkdir -p "$CACHE"
  # One builder at a time; a second caller waits and then finds the tarball.
  exec 9>"$CACHE/.lock"
  flock 9
  [[ -f $TARBALL ]] && return
  local work; work=$(mktemp -d "$CACHE/build.XXXXXX")
  log "debootstrap $SUITE from $(mirror) (first run on this machine: a few minutes)"
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$work/rootfs" "$(mirror)" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    rm -rf "$work"
    exit 1
  fi
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb
  tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$TARBALL"
  rm -rf "$work"
  log "cached $TARBALL ($(du -h "$TARBALL" | cut -f1))"
}

# Runs as the first process of the new namespaces: record our pid as this machine sees it, mount
# what a booted system has, bring up lo, then become the target's init (a reaper, so processes the
# role daemonises and later stops do not linger as zombies).
INIT_SH='
set -e
read -r pid _ </proc/self/stat
root=$1
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys" 2>/dev/null || mount --rbind -o ro /sys "$root/sys"
mount -t tmpfs -o mode=0755,nosuid dev "$root/dev"
for n in null zero full random urandom tty; do touch "$root/dev/$n"; mount --bind "/dev/$n" "$root/dev/$n"; done
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
ln -s pts/ptmx "$root/dev/ptmx"; ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=0755 run "$root/run"
ip link set lo up
hostname "$(cat "$root/etc/hostname")"
echo "$pid" >"$2.tmp"
exec chroot "$root" /usr/bin/python3 -c "
import os, signal
def reap(*_):
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return
signal.signal(signal.SIGCHLD, reap)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
while True:
    signal.pause()
"
'

create() {
  local dir=$1 name=${2:-instance}
  build_rootfs
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local root=$dir/rootfs pidfile=$dir/target.pid
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "target already running (pid $(cat "$pidfile"))"; return
  fi
  rm -rf "$root"; mkdir -p "$root"
  tar -C "$root" --numeric-owner -xf "$TARBALL"
  echo "$name" >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost\n' "$name" >"$root/etc/hosts"
  rm -f "$pidfile" "$pidfile.tmp"
  setsid unshare --fork --pid --mount --uts --ipc --net --propagation private \
    /bin/sh -c "$INIT_SH" init "$root" "$pidfile" </dev/null >"$dir/target.log" 2>&1 &
  for _ in $(seq 100); do
    [[ -s $pidfile.tmp ]] && break
    sleep 0.1
  done
  if [[ ! -s $pidfile.tmp ]]; then cat "$dir/target.log" >&2; log "target did not start"; exit 1; fi
  mv "$pidfile.tmp" "$pidfile"
  log "target $name running: pid $(cat "$pidfile"), root $root"
}

destroy() {
  local dir=$1
  [[ -d $dir ]] || return 0
  local pidfile=$dir/target.pid
  if [[ -f $pidfile ]]; then
    local pid; pid=$(cat "$pidfile")
    # SIGKILL to a PID namespace's init kills everything in that namespace.
    if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' </proc/"$pid"/cmdline | grep -q python3; then
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 100); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
    fi
  fi
  # The namespace's mounts were private to it; only plain files remain.
  rm -rf --one-file-system "$dir"
}

case ${1:-} in
  rootfs) build_rootfs; echo "$TARBALL" ;;
  create) create "${2:?DIR}" "${3:-instance}" ;;
  destroy) destroy "${2:?DIR}" ;;
  *) echo "usage: $0 rootfs | create DIR [NAME] | destroy DIR" >&2; exit 2 ;;
esac
