"""tessera: simulator/drivers."""
