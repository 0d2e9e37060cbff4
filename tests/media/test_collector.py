"""tune_collector: full garbage collections become rare while a forwarding process grows."""

from __future__ import annotations

import subprocess
import sys

# run in a fresh interpreter: how often Python runs a full collection depends on how many objects
# are alive already (one each time the survivors grew by a quarter), and a test process has many
GROW = """
import gc, sys
from media_server import tune_collector
if sys.argv[1] == "tuned":
    tune_collector()
counted = []
gc.callbacks.append(lambda phase, info: counted.append(1) if phase == "stop" and info["generation"] == 2 else None)
kept = []
for i in range(300_000):
    kept.append({"peer": i, "links": [kept[-1] if kept else None]})
print(len(counted))
"""


def full_collections_while_growing(mode: str) -> int:
    """Count the full collections Python runs while 300,000 linked objects are made and kept."""
    out = subprocess.run([sys.executable, "-c", GROW, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_a_growing_process_runs_far_fewer_full_collections() -> None:
    before = full_collections_while_growing("default")
    after = full_collections_while_growing("tuned")
    assert before >= 4  # Python's defaults
    assert after <= before // 4
