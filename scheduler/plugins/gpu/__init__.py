"""GPU scoring: the FGD fragmentation measure, the GPU score plugins and their kernels.

One place for everything that scores placements by what they do to GPUs: the measure
(``measure.py``), what a pod asks of GPUs (``shape.py``), the numpy kernels (``kernels.py``),
the plugin base class (``base.py``) and the plugins themselves (``fragmentation.py``: FGD,
``tessera.py``: Tessera, ``baselines.py``: the FGD paper's baselines).
"""
