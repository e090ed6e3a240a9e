"""What a stock kube-scheduler (1.35) does, for the simulator to play it.

``http_extender`` is kube-scheduler's HTTP client for one extender entry (``HTTPExtender``);
``extenders`` is what the scheduling and binding cycles do with the list of them (filter chain,
score merge, bind delegation, preemption veto). Both speak to a real HTTP server, so the
simulator can drive ``tessera serve`` exactly as a cluster's kube-scheduler would.
"""
