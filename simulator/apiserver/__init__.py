"""tessera's Kubernetes API facade: a simulated cluster served over the real wire protocol.

kubectl and the official ``kubernetes`` Python client work against it unmodified (the role
KWOK or kube-scheduler-simulator play for Go users). Modules, by job:

* :mod:`~simulator.apiserver.resources` — the served kinds (one table);
* :mod:`~simulator.apiserver.store` — objects, resourceVersions, the bounded watch log;
* :mod:`~simulator.apiserver.cluster` — the bridge to the simulator (observer, informer-like
  writes, the simulated kubelet);
* :mod:`~simulator.apiserver.handlers` — what each verb does; :mod:`~simulator.apiserver.app`
  — routing, negotiation, Status errors; :mod:`~simulator.apiserver.watch` — watch streams;
* :mod:`~simulator.apiserver.options`, :mod:`~simulator.apiserver.selectors`,
  :mod:`~simulator.apiserver.bodies`, :mod:`~simulator.apiserver.listing`,
  :mod:`~simulator.apiserver.patch`, :mod:`~simulator.apiserver.tables`,
  :mod:`~simulator.apiserver.discovery` — the wire details (query options, selectors,
  request bodies, list bodies, patches, Tables, discovery);
* :mod:`~simulator.apiserver.server` (uvicorn), :mod:`~simulator.apiserver.scheduling`
  (the in-process scheduler of ``cluster serve``), :mod:`~simulator.apiserver.live` (a
  replay served live, paced), :mod:`~simulator.apiserver.replay_extender` (a replay played
  with an extender: served request objects, bindings, failures, the sync probe),
  :mod:`~simulator.apiserver.kubeconfig`,
  :mod:`~simulator.apiserver.cli` (``cluster serve`` and the replay's ``--api-port``, ready
  to mount).

See docs/apiserver.md for what is served and which upstream behaviours are mirrored.
"""
