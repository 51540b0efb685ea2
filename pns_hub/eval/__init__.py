"""Evaluation: lighteval custom tasks for the seven benchmarks (``tasks``), the ``pns-hub eval`` runner (``run``)
and pass@k curves (``passk``). Importing this package does not import lighteval; only ``tasks`` and ``run`` need it."""
