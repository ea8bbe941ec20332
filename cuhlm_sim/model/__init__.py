"""The SimPy model of one cell: devices, the shared uplink, the GPU verification server and the
per-token policies. It takes frozen parameters and numpy trace arrays; it never reads files."""
