"""Evaluation and its records: lighteval custom tasks for the seven benchmarks (``tasks``), the ``pns-hub eval``
runner (``run``), pass@k (``passk``), the result-record schema (``results``), re-running published evaluations
(``reproduce``), the leaderboard table and chart (``leaderboard``) and its Space (``space``). Importing this package
does not import lighteval; only ``tasks`` and ``run`` need it."""
