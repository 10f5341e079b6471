"""PBA training: fits the GRU ensemble that novacron.dwcp.pba ships as weights (needs PyTorch,
which the agent does not depend on). Run through benchmarks/pba.py."""
