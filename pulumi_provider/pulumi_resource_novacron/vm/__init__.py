"""The novacron:index:VirtualMachine resource: inputs, diff, and the lifecycle against agents."""
