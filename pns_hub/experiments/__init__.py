"""Experiments and tools that drive the whole chain: the end-to-end demo and its cached stages (``demo``,
``demo_stages``, ``stages``), ``pns-hub experiment pns|nsr|glow`` (``pns``; ``nsr_glow`` with its shared stages
``testbed_stages``, per-seed ``arms`` and pooled verdicts ``pooled`` / ``pooled_report``), their fixed verdict rule
and reports (``report``), the fair protocol's problem sets (``protocol``) and the benchmark runner (``bench``)."""
