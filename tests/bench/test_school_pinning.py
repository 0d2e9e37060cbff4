"""bench/school.py --server-cpus / --generator-cpus: each process, its threads and its children run where asked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import school

ROOT = Path(__file__).resolve().parents[2]

# A parent with a second thread and a child, all started before the pinning (as PostgreSQL's
# backends are), then moved with pin_tree: every task of both must be on CPU 0. Run in a process
# whose /proc shows its PID namespace (the tests' netns-run does not mount one; school.py does).
PIN_A_FAMILY = """
import json, os, subprocess, sys, time
from bench import school
FAMILY = '''
import subprocess, sys, threading, time
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print(child.pid, flush=True)
time.sleep(30)
'''
parent = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE, text=True)
try:
    child = int(parent.stdout.readline())
    tasks = lambda pid: [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    deadline = time.monotonic() + 10
    while len(tasks(parent.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    school.pin_tree(parent.pid, {0})
    print(json.dumps({task: sorted(os.sched_getaffinity(task)) for pid in (parent.pid, child) for task in tasks(pid)}))
finally:
    os.kill(child, 9)
    parent.kill()
"""


def test_a_process_tree_already_running_is_moved_whole() -> None:
    argv = [sys.executable, "-c", PIN_A_FAMILY]
    if os.readlink("/proc/self") != str(os.getpid()):
        argv = [shutil.which("unshare") or "/usr/bin/unshare", "--mount-proc", *argv]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    affinities = json.loads(done.stdout)
    assert len(affinities) >= 3  # the parent's two threads and its child
    assert set(map(tuple, affinities.values())) == {(0,)}, affinities


def test_a_process_started_pinned_runs_there_and_the_default_is_anywhere() -> None:
    started = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        capture_output=True, text=True, check=True, preexec_fn=school.pinned(school.cpu_set("0")),
    )  # fmt: skip
    assert started.stdout.strip() == "[0]"
    assert school.pinned(school.cpu_set("")) is None
    assert school.cpu_set("0, 1") == {0, 1}
