"""tessera: scheduler/topology."""
