#!/usr/bin/python3
"""Render the deploy/ templates: replace every @@NAME@@ and write the files under an output root.

Standard library only: the installer runs it with Debian's python3 before any venv exists.

    deploy/render.py --root / --values values.json --set DOMAIN=classe.example.fr
    deploy/render.py --list            # each template, where it goes, the names it needs

A name given that no selected template uses, or a name a template uses with no value, is an
error and nothing is written. Values may be empty. A placeholder alone on its line (after
indentation) takes a multi-line value, each line indented like the placeholder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"@@([A-Z][A-Z0-9_]*)@@")
ALONE = re.compile(r"^([ \t]*)@@([A-Z][A-Z0-9_]*)@@[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Template:
    source: str  # relative to deploy/
    target: str  # absolute path on the server
    mode: int = 0o644


TEMPLATES = [
    Template("env.example", "/etc/classe-virtuelle/env", 0o640),
    Template("nginx/classe-virtuelle.conf", "/etc/nginx/sites-available/classe-virtuelle.conf"),
    Template("coturn/turnserver.conf", "/etc/turnserver.conf", 0o640),
    Template("systemd/classe-virtuelle.target", "/etc/systemd/system/classe-virtuelle.target"),
    Template("systemd/cv-web@.service", "/etc/systemd/system/cv-web@.service"),
    Template("systemd/cv-worker.service", "/etc/systemd/system/cv-worker.service"),
    Template("systemd/cv-beat.service", "/etc/systemd/system/cv-beat.service"),
    Template("systemd/cv-media@.service", "/etc/systemd/system/cv-media@.service"),
    Template("bin/classe-virtuelle-manage", "/usr/local/sbin/classe-virtuelle-manage", 0o755),
    Template("certbot/deploy-hook", "/etc/letsencrypt/renewal-hooks/deploy/classe-virtuelle", 0o755),
]


class RenderError(Exception):
    """Bad values or templates; nothing was written."""


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def substitute(text: str, values: dict[str, str]) -> str:
    def alone(match: re.Match[str]) -> str:
        indent, name = match.group(1), match.group(2)
        return "\n".join(indent + line if line else line for line in values[name].split("\n"))

    text = ALONE.sub(alone, text)
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def read_values(path: Path) -> dict[str, str]:
    """Values from a JSON object, or from NAME=VALUE lines (# comments, no quoting)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(v, (str, int)) for v in data.values()):
            raise RenderError(f"{path}: a JSON object of strings is expected")
        return {str(k): str(v) for k, v in data.items()}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise RenderError(f"{path}:{number}: NAME=VALUE expected")
        values[name.strip()] = value
    return values


def select(names: list[str]) -> list[Template]:
    if not names:
        return list(TEMPLATES)
    known = {t.source: t for t in TEMPLATES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise RenderError(f"unknown template(s) {', '.join(unknown)}; --list shows them")
    return [known[name] for name in names]


def render(templates: list[Template], values: dict[str, str], root: Path) -> list[Path]:
    """Check everything first, then write each file atomically under root."""
    texts = {t.source: (HERE / t.source).read_text(encoding="utf-8") for t in templates}
    needed = {t.source: placeholders(texts[t.source]) for t in templates}
    used = set().union(*needed.values())
    problems = []
    for source, names in needed.items():
        missing = sorted(names - values.keys())
        if missing:
            problems.append(f"{source} needs {', '.join(missing)}")
    unknown = sorted(values.keys() - used)
    if unknown:
        problems.append(f"no selected template uses {', '.join(unknown)}")
    for source in texts:
        for name in sorted(needed[source]):
            if "\n" in values.get(name, "") and not re.search(rf"^[ \t]*@@{name}@@[ \t]*$", texts[source], re.M):
                problems.append(f"{source}: {name} has several lines but is not alone on its line")
    if problems:
        raise RenderError("; ".join(problems))
    written = []
    for template in templates:
        target = root / template.target.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(substitute(texts[template.source], values))
            os.chmod(tmp, template.mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/render.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("templates", nargs="*", help="templates to render, as --list names them (default: all)")
    parser.add_argument("--root", type=Path, help="output root: / on the server, a temporary directory in tests")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="one value (repeatable)")
    parser.add_argument(
        "--values",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="values from a .json object or NAME=VALUE lines (repeatable; --set wins)",
    )
    parser.add_argument("--list", action="store_true", help="print each template, its target and the names it needs")
    args = parser.parse_args(argv)
    try:
        templates = select(args.templates)
        if args.list:
            for t in templates:
                names = " ".join(sorted(placeholders((HERE / t.source).read_text(encoding="utf-8"))))
                print(f"{t.source} -> {t.target} ({t.mode:o}): {names}")
            return 0
        if args.root is None:
            parser.error("--root is required to render")
        values: dict[str, str] = {}
        for path in args.values:
            values.update(read_values(path))
        for item in args.set:
            name, sep, value = item.partition("=")
            if not sep:
                raise RenderError(f"--set {item!r}: NAME=VALUE expected")
            values[name] = value
        for path in render(templates, values, args.root):
            print(path)
    except (RenderError, OSError, json.JSONDecodeError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
