#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine, run as root: system packages (apt), QEMU 10
# from bookworm-backports, and the repository's .venv with the agent and test tools.
# A second run skips what is done (stamps in .venv/ and /var/lib/novacron-setup/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAMP_DIR=/var/lib/novacron-setup
APT_PACKAGES=(libvirt-dev pkg-config libvirt-daemon-system libvirt-clients qemu-utils genisoimage
  busybox-static cpio iproute2 iperf3 debootstrap postgresql gcc libc6-dev dpkg-dev ca-certificates)
BACKPORTS_PACKAGES=(qemu-system-x86)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_setup() {
  local want; want=$(printf '%s\n' "${APT_PACKAGES[@]}" "${BACKPORTS_PACKAGES[@]}" | sha256sum | cut -c1-16)
  if [[ -f $STAMP_DIR/apt-$want ]] && command -v qemu-system-x86_64 >/dev/null && command -v libvirtd >/dev/null; then
    log "system packages present"; return
  fi
  if [[ $(id -u) -ne 0 ]]; then echo "setup: run as root (apt-get install)" >&2; exit 1; fi
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | head -1 | awk '{print $2}')
    uri=${uri:-http://deb.debian.org/debian}
    log "adding bookworm-backports ($uri)"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" > /etc/apt/sources.list.d/novacron-backports.sources
  fi
  log "installing system packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o Dpkg::Options::=--force-confold "${APT_PACKAGES[@]}"
  apt-get install -y -q -o Dpkg::Options::=--force-confold -t bookworm-backports "${BACKPORTS_PACKAGES[@]}"
  mkdir -p "$STAMP_DIR"; touch "$STAMP_DIR/apt-$want"
}

venv_setup() {
  local want; want=$(cat agent/pyproject.toml requirements-test.txt scripts/setup.sh */pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
  if [[ -f .venv/.stamp-$want ]]; then log "python environment present"; return; fi
  log "creating .venv and installing the agent and test tools"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  # One resolver run for everything, so the providers' pins (pulumi's protobuf<7) hold together.
  local editables=(-e sdk -e agent)
  for extra in pulumi_provider terraform_provider; do
    if [[ -f $extra/pyproject.toml ]]; then editables+=(-e "$extra"); fi
  done
  .venv/bin/pip install -q "${editables[@]}" -r requirements-test.txt
  .venv/bin/pip check
  rm -f .venv/.stamp-*; touch ".venv/.stamp-$want"
}

apt_setup
venv_setup
log "ready: $ROOT/.venv"
