"""Benchmark `sync_directory` on a generated school (2,500 students, 100 classes, 150 teachers).

Runs the first sync (everything created) and a second one (nothing changes),
against a real slapd and against the LDIF, each in a fresh process on a fresh
SQLite database, and prints wall time and peak memory (RSS) of that process.

    .venv/bin/python bench/sync_directory.py [--students 2500 --classes 100 --teachers 150]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_sync(env: dict[str, str]) -> tuple[float, float, str]:
    """Run manage.py sync_directory in a child; return seconds, peak RSS in MB, its output."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sync_directory"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read().strip() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"sync failed: {out}")
    return elapsed, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=2500)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--teachers", type=int, default=150)
    args = parser.parse_args()

    from tests.services import start_slapd

    with tempfile.TemporaryDirectory() as tmp:
        ldif = Path(tmp) / "big.ldif"
        subprocess.run(
            [
                sys.executable,
                "scripts/gen_directory.py",
                "--students",
                str(args.students),
                "--classes",
                str(args.classes),
                "--teachers",
                str(args.teachers),
                "--no-passwords",
                "-o",
                str(ldif),
            ],
            cwd=ROOT,
            check=True,
        )
        print(f"directory: {args.students} students, {args.classes} classes, {args.teachers} teachers")
        slapd = start_slapd(ldif)
        try:
            for source, extra in (("ldap", {"LDAP_URI": slapd.uri}), ("ldif", {"DIRECTORY_LDIF": str(ldif)})):
                env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/{source}.sqlite3", **extra}
                subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
                for label in ("first sync", "second sync"):
                    seconds, rss, out = run_sync(env)
                    print(f"{source:5} {label:12} {seconds:6.2f} s  peak RSS {rss:6.1f} MB  | {out}")
        finally:
            slapd.stop()


if __name__ == "__main__":
    main()
