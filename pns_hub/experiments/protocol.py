"""The fair protocol's problem sets: warm-up, reward model, generator, synthesis and test never share a problem.

Why: when the problems the negatives are synthesised for are inside the RM's or the generator's training problems,
"PNS negatives are more plausible" can be memorisation of those problems (issue #17 found the 12 demo synthesis
problems inside both). Each stage gets its own slice of the testbed's training split, in a fixed order, and the test
set is the testbed's test split, which is disjoint from the training split by construction (``pns_hub.data.testbed``).
:func:`check_disjoint` proves it for any sets handed to it, by id, by problem text and by problem identity (template,
steps and numbers, whatever the names in the story).
"""

from __future__ import annotations

from dataclasses import dataclass, field


ROLES = ("warmup", "reward_model", "generator", "synthesis")
# warm-up first, so its slice is testbed_train[0:400], the slice recipes/smollm2-135m-instruct/sft_warmup_testbed.yaml
# trains on (dataset_offset 0, dataset_limit 400)
DEFAULT_SIZES = {"warmup": 400, "reward_model": 300, "generator": 300, "synthesis": 300}
DEFAULT_TEST_SIZE = 500


@dataclass(frozen=True)
class ProblemSets:
    """Rows per role (``pns_hub.data.problems`` schema) and where each training role's slice starts in ``train_name``."""

    sets: dict[str, list[dict]]
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)  # role -> (dataset_offset, dataset_limit)
    train_name: str = "testbed_train"
    test_name: str = "testbed"

    def __getitem__(self, role: str) -> list[dict]:
        return self.sets[role]

    def summary(self) -> dict:
        """What a results file records: sizes and slices, enough to rebuild the sets."""
        return {"train": self.train_name, "test": self.test_name, "sizes": {r: len(v) for r, v in self.sets.items()},
                "offsets": {r: list(v) for r, v in self.offsets.items()}}


def _identity(row: dict) -> str:
    """What a problem asks: the testbed key (template, steps, numbers hash) without the split, else the id."""
    from pns_hub.data.testbed import SOURCE, parse_id

    if row.get("source") == SOURCE:
        meta = parse_id(row["id"])
        return f"{meta['template']}/s{meta['steps']}/{row['id'].rsplit('/', 1)[1]}"
    return str(row["id"])


def check_disjoint(sets: dict[str, list[dict]]) -> None:
    """Raise ``ValueError`` naming both roles and one shared problem if any two sets overlap by id, text or identity."""
    seen: dict[tuple[str, str], str] = {}
    for role, rows in sets.items():
        for row in rows:
            for kind, value in (("id", str(row["id"])), ("text", " ".join(row["problem"].split()).lower()),
                                ("identity", _identity(row))):
                other = seen.setdefault((kind, value), role)
                if other != role:
                    raise ValueError(f"problem sets '{other}' and '{role}' share a problem (same {kind}: "
                                     f"{row['id']!r}: {row['problem'][:80]!r})")


def fair_problem_sets(sizes: dict[str, int] | None = None, test_size: int = DEFAULT_TEST_SIZE,
                      train_name: str = "testbed_train", test_name: str = "testbed") -> ProblemSets:
    """Consecutive slices of ``train_name`` for the roles in :data:`ROLES` order, the first ``test_size`` problems of
    ``test_name`` as ``test``; checked with :func:`check_disjoint` before they are returned."""
    from pns_hub.data.problems import load_problems

    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    if unknown := set(sizes) - set(ROLES):
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles: {', '.join(ROLES)}")
    if any(n < 0 for n in sizes.values()) or test_size < 1:
        raise ValueError(f"sizes must be >= 0 and test_size >= 1, got {sizes}, test_size={test_size}")
    train = load_problems(train_name)
    if sum(sizes.values()) > len(train):
        raise ValueError(f"{train_name} has {len(train)} problems, the roles ask for {sum(sizes.values())} ({sizes})")
    test = load_problems(test_name)
    if test_size > len(test):
        raise ValueError(f"{test_name} has {len(test)} problems, test_size asks for {test_size}")
    sets, offsets, start = {}, {}, 0
    for role in ROLES:
        sets[role], offsets[role] = train[start:start + sizes[role]], (start, sizes[role])
        start += sizes[role]
    sets["test"] = test[:test_size]
    check_disjoint(sets)
    return ProblemSets(sets, offsets, train_name, test_name)
