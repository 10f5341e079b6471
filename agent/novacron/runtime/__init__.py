"""The running agent: its boot components and the process that drives them."""
