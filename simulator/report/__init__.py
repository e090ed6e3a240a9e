"""tessera: simulator/report."""
