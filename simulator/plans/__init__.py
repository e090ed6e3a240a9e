"""Capacity plans (``tessera plan``): the Plan schema (:mod:`.model`), replay tasks and their
metrics (:mod:`.points`), the pool-mix search (:mod:`.search`), what-ifs (:mod:`.whatif`),
stranded capacity (:mod:`.stranded`), the runners (:mod:`.pool`, :mod:`.ray_backend`) and the
run that ties them together (:mod:`.run`). See docs/plans.md."""
