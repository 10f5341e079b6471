"""transport/probe: the probe endpoint every agent serves, the client that pings and bursts, and the
runner that probes the peers and feeds the mode service and PBA (the maths: dwcp/probe)."""
