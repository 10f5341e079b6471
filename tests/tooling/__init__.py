"""Test-bed tooling shared by NovaCron's test folders (real processes, not mocks).

Importable as ``tests.tooling`` (tests/conftest.py puts the repo root on sys.path) and as
``tooling`` (with tests/ on sys.path); modules import each other relatively so both work.

  agent, openbao, postgres -- real agent / OpenBao / PostgreSQL processes for tests
  libvirtd        -- the system libvirtd, and private per-"host" libvirtd instances (LibvirtHost)
  guest           -- a tiny bootable test guest (cloud kernel + busybox initramfs + memory workload)
  serial_log      -- reading a guest's serial console log (READY, heartbeats, oopses)
  netns           -- hosts in network namespaces joined by an emulated link (Testbed)
  link_emulator   -- link profiles (delay, loss, bandwidth) and the TUN forwarder process
"""
