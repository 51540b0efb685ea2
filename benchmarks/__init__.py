"""pns-hub benchmark suite: ``python -m benchmarks [--quick]`` or ``pns-hub bench``.

Convention (see ``_common.py``): a script here that defines ``run(quick: bool) -> list[dict]`` is called in-process
and each dict is one table row ``{stage, naive, tuned, unit, ...}``; a script with only ``main()`` is run as a
subprocess (full runs only) and its output tail is recorded. Missing scripts are simply not listed.
"""
