"""The apps keep to their layers (docs/architecture.md, "Which app may import which").

Every import of every module counts, at the top or inside a function: a lazy import hides a cycle,
it does not remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("media_server", "accounts", "classroom", "slides", "config")
# config's leaves: counters, the proxy helpers and the Redis clients' retry policy, which import none
# of our apps; every app may use them.
SHARED = ("config.metrics", "config.proxy", "config.redis_clients")
ALLOWED: dict[str, set[str]] = {
    "media_server": set(),
    "accounts": set(),
    "classroom": {"accounts", "media_server"},
    "slides": {"accounts", "classroom"},
    "config": set(APPS),
}
# What slides may use of the classroom: its models, permission table, events, protocol, the
# three places where it adds to the room (the dispatch table, the state, participant objects) and
# the participant helpers that `draw.set` shares with `presenter.set`, and the per-user rate limits
# (drawing's live batches are counted where they arrive, in slides.live, as every message is).
SLIDES_INTERFACE = (
    "classroom.models",
    "classroom.permissions",
    "classroom.events",
    "classroom.protocol",
    "classroom.actions.dispatch",
    "classroom.actions.presence",
    "classroom.actions.serialize",
    "classroom.actions.common",
    "classroom.ratelimit",
)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """The absolute names that a file imports, wherever the import statement is."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from . import media` imports the module `<package>.media`
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def app_of(module: str) -> str | None:
    top = module.split(".", 1)[0]
    return top if top in APPS else None


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def modules() -> list[Path]:
    return sorted(path for app in APPS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts)


def crossings() -> list[tuple[str, str]]:
    """(importer, imported) for every import from one of our apps into another."""
    found = []
    for path in modules():
        importer = module_name(path)
        for imported in imports_of(path):
            if app_of(imported) not in (None, app_of(importer)):
                found.append((importer, imported))
    return found


def test_every_app_imports_only_the_layers_below_it():
    wrong = [
        f"{importer} imports {imported}"
        for importer, imported in crossings()
        if not within(imported, SHARED) and app_of(imported) not in ALLOWED[app_of(importer) or ""]
    ]
    assert wrong == []


def test_config_leaves_import_none_of_our_apps():
    for name in SHARED:
        path = ROOT / (name.replace(".", "/") + ".py")
        assert {app_of(imported) for imported in imports_of(path)} <= {None, "config"}, name


def test_slides_use_the_classroom_only_through_its_interface():
    wrong = [
        f"{importer} imports {imported}"
        for importer, imported in crossings()
        if app_of(importer) == "slides" and app_of(imported) == "classroom" and not within(imported, SLIDES_INTERFACE)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from classroom.models import Room", "classroom.models"),
        ("def f():\n    from classroom import media", "classroom.media"),
        ("import classroom.events", "classroom.events"),
        ("from ..models import Room", "accounts.models.Room"),
    ],
)
def test_imports_count_wherever_they_are(tmp_path, source, expected):
    (tmp_path / "accounts" / "directory").mkdir(parents=True)
    module = tmp_path / "accounts" / "directory" / "x.py"
    module.write_text(source)
    assert any(within(name, (expected,)) for name in imports_of(module, tmp_path))
