"""The forwarder stays apart from the web application."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_media_server_imports_no_django() -> None:
    code = (
        "import sys, media_server, media_server.node, media_server.publisher, media_server.subscriber;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'channels', 'classroom', 'accounts', 'config'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_media_server_command_line_runs_without_django() -> None:
    code = (
        "import runpy, sys; sys.argv = ['media_server', '--help'];\n"
        "try:\n    runpy.run_module('media_server', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
        "import media_server.bus\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'channels', 'classroom', 'accounts', 'config'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--redis" in result.stdout and "--node-id" in result.stdout
