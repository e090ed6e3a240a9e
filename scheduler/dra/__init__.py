"""tessera: scheduler/dra."""
