"""Live migration over DWCP: libvirt moves the VM, the agents carry QEMU's stream (see ARCHITECTURE.md)."""
