"""tessera: scheduler/cluster."""
