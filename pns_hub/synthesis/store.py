"""Synthesis's shard store: the resumable on-disk state under ``<output_dir>/.synthesis/``.

A finished shard is written atomically (temp file + rename) and then listed in ``manifest.json`` with its problem ids
and the config hash, under a file lock (several ranks finish shards at once). A killed run restarted with the same
config skips finished shards; a manifest made with another config is an error unless ``overwrite``. Rank 0 merges the
shard files in shard order. Nothing here knows what a row contains.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

from pns_hub import models
WORK_DIR = ".synthesis"


def plan_shards(problems: list[dict], shard_size: int) -> list[list[dict]]:
    return [problems[i:i + shard_size] for i in range(0, len(problems), shard_size)]


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def shard_path(work: Path, index: int) -> Path:
    return work / "shards" / f"shard-{index:05d}.json"


def read_manifest(work: Path) -> dict | None:
    path = work / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def init_manifest(work: Path, config_hash: str, shards: list[list[dict]], overwrite: bool) -> None:
    """Start or resume: a manifest made with another config is an error unless ``overwrite``."""
    (work / "shards").mkdir(parents=True, exist_ok=True)
    old = read_manifest(work)
    if old and old.get("config_hash") != config_hash:
        if not overwrite:
            raise RuntimeError(f"{work}: finished shards were made with another config (hash {old.get('config_hash')} "
                               f"!= {config_hash}); use a new output_dir or overwrite=True")
        for f in (work / "shards").glob("shard-*.json"):
            f.unlink()
        old = None
    manifest = old or {"config_hash": config_hash, "completed": {}}
    manifest["num_shards"] = len(shards)
    manifest["shards"] = {str(i): [p["id"] for p in s] for i, s in enumerate(shards)}
    # A shard listed but whose file is missing (deleted by hand) is simply redone.
    manifest["completed"] = {k: v for k, v in manifest["completed"].items() if shard_path(work, int(k)).exists()}
    atomic_write(work / "manifest.json", json.dumps(manifest, indent=1))


def mark_done(work: Path, index: int, problem_ids: list[str], rank: int) -> None:
    with models._file_lock(work / "manifest.lock"):
        manifest = read_manifest(work)
        manifest["completed"][str(index)] = {"problem_ids": problem_ids, "rank": rank, "time": time.time()}
        atomic_write(work / "manifest.json", json.dumps(manifest, indent=1))


def completed_shards(work: Path, shards: list[list[dict]]) -> set[int]:
    """Shards whose file exists *and* whose manifest entry lists the planned problem ids."""
    manifest = read_manifest(work) or {"completed": {}}
    done = set()
    for key, entry in manifest["completed"].items():
        i = int(key)
        if i < len(shards) and entry["problem_ids"] == [p["id"] for p in shards[i]] and shard_path(work, i).exists():
            done.add(i)
    return done


def merge_shards(work: Path, sources: Sequence[str], num_shards: int) -> tuple[dict[str, list[dict]], list[dict]]:
    """Rows per source in shard order, duplicates (same problem, chosen and rejected text) removed."""
    rows = {s: [] for s in sources}
    skipped: list[dict] = []
    seen = {s: set() for s in sources}
    for i in range(num_shards):
        path = shard_path(work, i)
        if not path.exists():
            raise RuntimeError(f"{path}: shard {i} is missing; rerun to finish it")
        data = json.loads(path.read_text())
        skipped += data["skipped"]
        for source in sources:
            for row in data["rows"].get(source, []):
                key = (row["problem_id"], row["chosen"][0]["content"], row["rejected"][0]["content"])
                if key in seen[source]:
                    skipped.append({"problem_id": row["problem_id"], "source": source, "reason": "duplicate row"})
                    continue
                seen[source].add(key)
                rows[source].append(row)
    return rows, skipped
