"""``make chaos`` (``python -m bench.chaos``): the chaos run at size, the throttling storm and the
fuzzing suite with 1,000 examples per property. The run and its invariants live beside the fault
layer (:mod:`qrie_local.chaos`, :mod:`qrie_local.invariants`), shared with the integration
tests; here: the storm (:mod:`bench.chaos.storm`), the printed report
(:mod:`bench.chaos.report`) and the command (``bench/chaos/__main__.py``)."""
