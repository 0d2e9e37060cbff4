"""The harness runs a unit's command as systemd would: specifiers, quoting, variables, environment files."""

from __future__ import annotations

from pathlib import Path

from .units import command_for, parse_unit


def unit_file(tmp_path: Path, text: str, name: str = "cv-web@.service") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_it_expands_the_instance_and_reads_the_environment_file_last(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("# comment\nREDIS_URL=redis://127.0.0.1:1/0\nLOG_LEVEL='WARNING'\n")
    path = unit_file(
        tmp_path,
        f"""[Unit]
Description=web on %i
[Service]
User=nobody-here-surely
WorkingDirectory=/srv/app
EnvironmentFile={env}
EnvironmentFile=-/does/not/exist
Environment=LOG_LEVEL=INFO "GREETING=bonjour tout le monde"
ExecStart=/venv/bin/daphne -b 127.0.0.1 \\
    -p %i config.asgi:application --log ${{LOG_LEVEL}} $GREETING
""",
    )
    command = command_for(parse_unit(path, "cv-web@8002.service"), tmp_path)
    assert command.argv == [
        "/venv/bin/daphne", "-b", "127.0.0.1", "-p", "8002", "config.asgi:application",
        "--log", "WARNING", "bonjour", "tout", "le", "monde",
    ]  # fmt: skip
    assert command.env["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert command.env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
    assert command.cwd == "/srv/app"
    assert command.user == "nobody-here-surely" and not command.run_as_unit_user


def test_it_gives_state_directories_their_variable(tmp_path: Path) -> None:
    path = unit_file(
        tmp_path,
        "[Service]\nStateDirectory=classe-virtuelle\nExecStart=-/bin/beat --schedule ${STATE_DIRECTORY}/s\n",
        "cv-beat.service",
    )
    command = command_for(parse_unit(path), tmp_path)
    state = tmp_path / "StateDirectory" / "classe-virtuelle"
    assert state.is_dir()
    assert command.argv == ["/bin/beat", "--schedule", f"{state}/s"]
