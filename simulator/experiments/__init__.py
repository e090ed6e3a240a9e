"""tessera: simulator/experiments."""
