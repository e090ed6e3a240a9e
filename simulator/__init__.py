"""tessera: simulator."""
