"""Measure this machine's ceilings: bf16 and fp32 matmul GFLOP/s and memory bandwidth (large tensor copy).

Measured, not quoted, because every other figure in the suite is compared to them in the same run (the box is
shared, so absolute figures move with the load; the % of roofline moves less).
"""

from __future__ import annotations

import sys
import time

try:
    from benchmarks import _common
except ImportError:  # run as a plain script
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(__file__)))
    from benchmarks import _common


def matmul_gflops(dtype, n: int = 2048, seconds: float = 1.5) -> float:
    """Best-of GFLOP/s of an n x n matmul over ~``seconds`` (best-of: interference only ever slows it down)."""
    import torch

    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)  # warm-up (oneDNN/AMX kernel selection)
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def copy_gbps(mbytes: int = 256, seconds: float = 1.0) -> float:
    """Memory bandwidth from a large fp32 tensor copy (bytes read + written), best of a few."""
    import torch

    n = mbytes * 2 ** 20 // 4
    src, dst = torch.randn(n), torch.empty(n)
    dst.copy_(src)
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - start)
    return 2 * n * 4 / best / 1e9


def peaks(quick: bool = False) -> dict:
    import torch

    from pns_hub import models
    models.configure_threads()
    s = 0.5 if quick else 2.0
    return {"bf16_gflops": round(matmul_gflops(torch.bfloat16, seconds=s), 1),
            "fp32_gflops": round(matmul_gflops(torch.float32, seconds=s), 1),
            "copy_gbps": round(copy_gbps(128 if quick else 512, seconds=s), 1)}


def run(quick: bool = False) -> list[dict]:
    from pns_hub import models
    p = peaks(quick)
    bf16_kind = " + ".join(models.cpuinfo_bf16_flags()) or "no native bf16 flag: emulated"
    return [
        _common.row("roofline: 2048^2 matmul", p["fp32_gflops"], p["bf16_gflops"], "GFLOP/s",
                    achieved_gflops=p["bf16_gflops"], roofline="bf16_gflops", peaks=p,
                    notes=f"naive = fp32, tuned = bf16 ({bf16_kind})"),
        _common.row("roofline: tensor copy", None, p["copy_gbps"], "GB/s", notes="read+write bytes"),
    ]


def main(argv=None) -> None:
    _common.env_setup()
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    rows = run(quick)
    _common.print_rows(rows, rows[0]["peaks"])


if __name__ == "__main__":
    main()
