"""tessera: scheduler/extender."""
