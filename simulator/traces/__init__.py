"""tessera: simulator/traces."""
