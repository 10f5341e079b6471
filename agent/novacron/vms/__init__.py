"""Declarative VMs: VmService (service) converges libvirt to a VirtualMachineSpec; diff decides what
changes and how each applies, validate refuses bad input early, ops does the blocking work, view
builds the answer, reconcile compares the store with libvirt at start-up."""
