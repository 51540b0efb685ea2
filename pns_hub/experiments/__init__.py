"""Experiments and tools that drive the whole chain: the end-to-end demo and its cached stages (``demo``,
``demo_stages``, ``stages``), ``pns-hub experiment pns|nsr|glow`` (``pns``, ``nsr_glow``), their fixed verdict rule
and reports (``report``), the fair protocol's problem sets (``protocol``) and the benchmark runner (``bench``)."""
