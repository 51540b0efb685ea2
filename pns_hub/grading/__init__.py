"""Grading: one verdict for every label (``verify``: correct / valid negative / unverifiable, on math-verify via
``answers``, which reads an answer, and ``compare``, which compares two readings where math-verify 0.5.2 is weak),
what a well-formed completion is (``answer_format``), the ``pns-hub verify`` CLI (``cli``), and the grader's own
checks on material it was not tuned on: mutations of every bundled gold (``mutations``, ``mutation_sweep``) and the
same completions through lighteval and math-verify (``cross_audit``). docs/grader.md has the figures."""
