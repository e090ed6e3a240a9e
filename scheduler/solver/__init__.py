"""tessera: scheduler/solver."""
