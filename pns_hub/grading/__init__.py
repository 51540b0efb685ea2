"""Grading: one verdict for every label (``verify``: correct / valid negative / unverifiable, on math-verify via
``answers``), what a well-formed completion is (``answer_format``), and the ``pns-hub verify`` CLI (``cli``)."""
