"""tessera: scheduler."""
