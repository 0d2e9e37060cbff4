"""Run a systemd unit's commands the way systemd would, where there is no systemd (CI, a container).

Only what our shipped units use is honoured: `Environment=`, `EnvironmentFile=`, `WorkingDirectory=`,
`User=`/`Group=`, the state/runtime/logs/cache directories and their variables, `ExecStartPre=` and
`ExecStart=` with systemd's quoting, `$VAR`/`${VAR}` expansion and the common `%` specifiers.
The hardening directives (`ProtectSystem=`, `PrivateTmp=`, ...) need systemd and are not emulated.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path

# What systemd gives every service before Environment= (systemd.exec(5), "Environment variables").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
DIRECTORY_SETTINGS = {
    "RuntimeDirectory": "RUNTIME_DIRECTORY",
    "StateDirectory": "STATE_DIRECTORY",
    "CacheDirectory": "CACHE_DIRECTORY",
    "LogsDirectory": "LOGS_DIRECTORY",
    "ConfigurationDirectory": "CONFIGURATION_DIRECTORY",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Unit:
    """One unit file's [Service] section: every key keeps all its values, in order."""

    name: str
    service: dict[str, list[str]] = field(default_factory=dict)
    unit: dict[str, list[str]] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        values = [value for value in self.service.get(key, []) if value != ""]
        return values[-1] if values else default

    def all(self, key: str) -> list[str]:
        """Every value of a list-like key; an empty assignment resets the list, as in systemd."""
        out: list[str] = []
        for value in self.service.get(key, []):
            if value == "":
                out = []
            else:
                out.append(value)
        return out


def parse_unit(path: Path, name: str | None = None) -> Unit:
    """Read a unit file: sections, `key=value` lines, backslash line continuations, comments."""
    unit = Unit(name or path.name)
    section: dict[str, list[str]] | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = {"[Service]": unit.service, "[Unit]": unit.unit}.get(line, {})
            continue
        if section is None or "=" not in line:
            continue
        key, value = line.split("=", 1)
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def expand_specifiers(text: str, unit_name: str, user: str) -> str:
    """Replace the `%` specifiers of systemd.unit(5) that a service's lines may use."""
    prefix, _, rest = unit_name.partition("@")
    instance = rest.rsplit(".", 1)[0] if rest else ""
    entry = pwd.getpwnam(user) if _user_exists(user) else pwd.getpwuid(os.getuid())
    table = {
        "i": instance,
        "I": instance.replace("-", "/"),
        "n": unit_name,
        "N": unit_name.rsplit(".", 1)[0],
        "p": prefix,
        "P": prefix.replace("-", "/"),
        "H": socket.gethostname(),
        "l": socket.gethostname().split(".")[0],
        "u": entry.pw_name,
        "U": str(entry.pw_uid),
        "h": entry.pw_dir,
        "s": entry.pw_shell,
        "t": "/run",
        "S": "/var/lib",
        "C": "/var/cache",
        "L": "/var/log",
        "E": "/etc",
        "T": "/tmp",
        "V": "/var/tmp",
        "%": "%",
    }

    def one(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter not in table:
            raise ValueError(f"{unit_name}: specifier %{letter} is not supported by this harness")
        return table[letter]

    return re.sub(r"%(.)", one, text)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def parse_assignments(value: str) -> dict[str, str]:
    """`Environment="A=1" B=2 "C=three words"`: systemd splits on whitespace, honouring quotes."""
    out: dict[str, str] = {}
    for word in shlex.split(value):
        if "=" in word:
            key, _, val = word.partition("=")
            out[key] = val
    return out


def read_environment_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile=: `KEY=VALUE` lines, `#`/`;` comments, values optionally quoted."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def split_command(line: str, env: dict[str, str]) -> list[str]:
    """Split an Exec line as systemd does: drop `-@:+!` prefixes, quote-aware, `${X}` one word, `$X` split."""
    line = line.lstrip("-@:+!")
    words: list[str] = []
    for word in shlex.split(line):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            # An unbraced variable alone in a word becomes zero or more words (split on whitespace).
            words.extend(env.get(whole.group(1), "").split())
            continue
        words.append(_VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), word))
    return words


@dataclass
class Command:
    """What systemd would run for one unit: its commands, environment, directory and user."""

    unit: str
    pre: list[list[str]]
    argv: list[str]
    env: dict[str, str]
    cwd: str
    user: str | None
    run_as_unit_user: bool


def command_for(unit: Unit, directories_root: Path) -> Command:
    """Work out ExecStartPre=/ExecStart= of a unit, its environment and the user it would run as.

    The state, runtime, logs and cache directories that systemd would create under /var/lib, /run,
    ... are created under `directories_root` instead, and their variables point there.
    """
    user = unit.get("User")
    run_as_unit_user = bool(user) and os.getuid() == 0 and _user_exists(str(user))
    account = pwd.getpwnam(str(user)) if run_as_unit_user else pwd.getpwuid(os.getuid())

    def expand(text: str) -> str:
        return expand_specifiers(text, unit.name, account.pw_name)

    env: dict[str, str] = {"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8"}
    if user:
        env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name, SHELL=account.pw_shell)
    for setting, variable in DIRECTORY_SETTINGS.items():
        names = [name for value in unit.all(setting) for name in expand(value).split()]
        if names:
            paths = [directories_root / setting / name for name in names]
            for path in paths:
                path.mkdir(parents=True, exist_ok=True)
                if run_as_unit_user:
                    os.chown(path, account.pw_uid, account.pw_gid)
            env[variable] = ":".join(str(path) for path in paths)
    for value in unit.all("Environment"):
        env.update(parse_assignments(expand(value)))
    # EnvironmentFile= settings override Environment= ones (systemd.exec(5)).
    for value in unit.all("EnvironmentFile"):
        value = expand(value)
        optional = value.startswith("-")
        path = Path(value.lstrip("-"))
        if not path.exists():
            if optional:
                continue
            raise FileNotFoundError(f"{unit.name}: EnvironmentFile {path} is missing")
        env.update(read_environment_file(path))
    cwd = expand(unit.get("WorkingDirectory") or (account.pw_dir if user else "/"))
    if cwd == "~":
        cwd = account.pw_dir
    starts = unit.all("ExecStart")
    if len(starts) != 1:
        raise ValueError(f"{unit.name}: expected one ExecStart=, found {len(starts)}")
    pre = [split_command(expand(line), env) for line in unit.all("ExecStartPre")]
    return Command(
        unit=unit.name,
        pre=pre,
        argv=split_command(expand(starts[0]), env),
        env=env,
        cwd=cwd.lstrip("-"),
        user=str(user) if user else None,
        run_as_unit_user=run_as_unit_user,
    )
