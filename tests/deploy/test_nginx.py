"""The rendered nginx site: nginx -t accepts it, and it keeps the promises the app relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.deploy.conftest import Rendered

SITE = "/etc/nginx/sites-available/classe-virtuelle.conf"


def _nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if not found:
        pytest.skip("nginx is not installed (scripts/install-system-deps)")
    return found


@pytest.fixture
def site(rendered: Rendered) -> str:
    return rendered.file(SITE).read_text()


def test_nginx_accepts_the_rendered_site(rendered: Rendered, tmp_path: Path) -> None:
    """nginx -t on the site inside a minimal nginx.conf whose pid, logs and temp files are all in tmp_path."""
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    temp_paths = "".join(f"    {kind}_temp_path {tmp_path}/{kind};\n" for kind in ("proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    access_log off;\n"
        f"    client_body_temp_path {tmp_path}/body;\n{temp_paths}"
        f"    include {rendered.file(SITE)};\n}}\n"
    )
    done = subprocess.run(
        [_nginx(), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "logs" / "error.log")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[warn]" not in done.stderr


def test_uploads_as_large_as_the_app_allows_pass(site: str) -> None:
    size = re.search(r"client_max_body_size (\d+)m;", site)
    assert size and int(size.group(1)) * 1024 * 1024 > settings.SLIDES_MAX_BYTES


def test_every_proxied_location_sends_the_address_nginx_saw(site: str) -> None:
    assert "$proxy_add_x_forwarded_for" not in site
    proxied = site.count("proxy_pass http://classe_virtuelle;")
    assert proxied == 3
    assert site.count("proxy_set_header X-Forwarded-For $remote_addr;") == proxied
    assert site.count("proxy_set_header X-Forwarded-Proto $scheme;") == proxied
    assert site.count("proxy_set_header Host $host;") == proxied


def test_room_sockets_are_upgraded_and_may_stay_idle_for_an_hour(site: str) -> None:
    ws = site.split("location /ws/ {")[1].split("}")[0]
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_read_timeout 1h;" in ws


def test_http_redirects_to_https_but_keeps_acme_challenges(site: str, rendered: Rendered) -> None:
    plain = site.split("listen 443")[0]
    assert "return 301 https://$host$request_uri;" in plain
    assert f"root {rendered.values['ACME_ROOT']};" in plain


def test_hsts_and_modern_tls_only(site: str) -> None:
    assert 'add_header Strict-Transport-Security "max-age=63072000" always;' in site
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in site


def test_metrics_are_refused_from_outside(site: str) -> None:
    metrics = site.split("location = /metrics {")[1].split("}")[0]
    assert metrics.index("allow 127.0.0.1;") < metrics.index("deny all;")


def test_uploads_are_never_served_from_disk(site: str, rendered: Rendered) -> None:
    """Slide pages go through Django's permission check: no alias or root points into MEDIA_ROOT."""
    assert rendered.values["MEDIA_ROOT"] not in site
    assert "/uploads" not in site
