"""deploy/render.py: every template rendered, nothing left over, bad values refused before any write."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.conftest import DOMAIN, ROOT, Rendered, render_cli

TARGETS = [
    "/etc/classe-virtuelle/env",
    "/etc/nginx/sites-available/classe-virtuelle.conf",
    "/etc/turnserver.conf",
    "/etc/systemd/system/classe-virtuelle.target",
    "/etc/systemd/system/cv-web@.service",
    "/etc/systemd/system/cv-worker.service",
    "/etc/systemd/system/cv-beat.service",
    "/etc/systemd/system/cv-media@.service",
    "/usr/local/sbin/classe-virtuelle-manage",
    "/etc/letsencrypt/renewal-hooks/deploy/classe-virtuelle",
]


def test_it_renders_every_template_with_no_placeholder_left(rendered: Rendered) -> None:
    written = sorted("/" + str(p.relative_to(rendered.root)) for p in rendered.root.rglob("*") if p.is_file())
    assert written == sorted(TARGETS)
    for target in TARGETS:
        assert "@@" not in rendered.file(target).read_text(), target


def test_every_template_in_deploy_is_rendered() -> None:
    listed = {line.split(" -> ")[0] for line in render_cli("--list").stdout.splitlines()}
    on_disk = {
        str(p.relative_to(ROOT / "deploy")) for p in (ROOT / "deploy").rglob("*")
        if p.is_file() and p.name != "render.py" and "__pycache__" not in p.parts
    }  # fmt: skip
    assert listed == on_disk


def test_the_env_file_is_private_and_the_manage_helper_executable(rendered: Rendered) -> None:
    assert rendered.file("/etc/classe-virtuelle/env").stat().st_mode & 0o777 == 0o640
    assert rendered.file("/usr/local/sbin/classe-virtuelle-manage").stat().st_mode & 0o777 == 0o755


def test_a_multi_line_value_keeps_the_placeholders_indentation(rendered: Rendered) -> None:
    site = rendered.file("/etc/nginx/sites-available/classe-virtuelle.conf").read_text()
    assert "    server 127.0.0.1:8001 max_fails=0;\n    server 127.0.0.1:8002 max_fails=0;\n" in site


def test_the_env_file_names_every_variable_a_production_install_needs(rendered: Rendered) -> None:
    names = set(re.findall(r"^([A-Z_]+)=", rendered.file("/etc/classe-virtuelle/env").read_text(), re.M))
    assert {
        "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "LDAP_URI", "LDAP_BASE_DN",
        "LDAP_BIND_DN", "LDAP_BIND_PASSWORD", "TURN_URL", "TURN_SECRET", "MEDIA_PUBLIC_IP", "MEDIA_ROOT",
        "METRICS_TOKEN", "TRUSTED_PROXIES", "SLIDES_MAX_BYTES",
    } <= names  # fmt: skip


def test_a_missing_value_is_refused_and_nothing_written(tmp_path: Path, rendered: Rendered) -> None:
    values = dict(rendered.values)
    del values["TURN_SECRET"]
    done = render_cli("--root", str(tmp_path / "out"), *(f"--set={k}={v}" for k, v in values.items()))
    assert done.returncode == 2
    assert "TURN_SECRET" in done.stderr and "env.example needs" in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_name_is_refused(tmp_path: Path, rendered: Rendered) -> None:
    values = {**rendered.values, "DOMIAN": DOMAIN}
    done = render_cli("--root", str(tmp_path / "out"), *(f"--set={k}={v}" for k, v in values.items()))
    assert done.returncode == 2
    assert "no selected template uses DOMIAN" in done.stderr
    assert not (tmp_path / "out").exists()


def test_values_come_from_an_env_file_and_set_wins(tmp_path: Path, rendered: Rendered) -> None:
    values_file = tmp_path / "values.env"
    values_file.write_text("# test\n" + "".join(f"{k}={v}\n" for k, v in rendered.values.items() if "\n" not in v))
    done = render_cli(
        "--root", str(tmp_path / "out"), "--values", str(values_file),
        "--set", f"WEB_UPSTREAM={rendered.values['WEB_UPSTREAM']}", "--set", "REDIS_URL=redis://10.0.0.5:6379/1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    env = (tmp_path / "out" / "etc" / "classe-virtuelle" / "env").read_text()
    assert "REDIS_URL=redis://10.0.0.5:6379/1\n" in env


def test_only_the_named_templates_are_rendered(tmp_path: Path) -> None:
    done = render_cli(
        "--root", str(tmp_path), "--set", "PREFIX=/opt/cv", "--set", "SERVICE_USER=classe-virtuelle",
        "--set", "STATE_DIR=/var/lib/classe-virtuelle", "--set", "ENV_FILE=/etc/classe-virtuelle/env",
        "systemd/cv-web@.service",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["cv-web@.service"]
