"""``python -m simulator.cli``: the ``tessera`` app."""

from simulator.cli import main

main()
