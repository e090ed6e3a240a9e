"""tessera: scheduler/framework."""
