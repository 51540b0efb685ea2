"""Problems: the bundled benchmarks and GSM8K train, JSONL input with named errors, splits (``problems``), and the
procedural arithmetic testbed where the embedded 135M model is in regime (``testbed``)."""
