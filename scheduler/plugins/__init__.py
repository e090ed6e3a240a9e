"""tessera: scheduler/plugins."""
