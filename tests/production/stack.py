"""The shipped production shape, started from deploy/'s own files in the test network namespace.

deploy/render.py renders the shipped templates for the test domain into a temporary directory.
Then, where systemd would run them, each unit's ExecStartPre=/ExecStart= run here with the
environment, directory and user systemd would give them (tests/production/units.py); nginx runs
the rendered site inside a minimal nginx.conf of its own (temporary prefix, pid and logs), and
coturn the rendered turnserver.conf in the foreground. PostgreSQL, Redis and slapd come from
tests/services.py. Nothing listens on any address but 127.0.0.1 and the namespace's 10.99.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.services import SlapdInstance, start_postgres, start_redis

from .units import Command, command_for, parse_unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV = ROOT / ".venv"
DOMAIN = "classe.test"
ADDRESS = "10.99.0.1"
TURN_SECRET = "turn-secret-for-tests-only"
SECRET_KEY = "production-shape-tests-only-" + "x" * 40
START_TIMEOUT = 60.0
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


class StackError(RuntimeError):
    """A part of the production stack did not start."""


@dataclass
class Process:
    """One long-running process of the stack and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Stack:
    """Everything the tests reach: the HTTPS origin, the logs, what was run and how."""

    workdir: Path
    https_port: int = 443
    http_port: int = 80
    cert: Path = Path()
    spki: str = ""
    processes: dict[str, Process] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)
    web_ports: list[int] = field(default_factory=list)
    media_node_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    turn_log: Path = Path()
    nginx_access_log: Path = Path()
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"https://{DOMAIN}" + ("" if self.https_port == 443 else f":{self.https_port}")

    def ssl_context(self) -> ssl.SSLContext:
        """Trust exactly the test certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    def get(self, path: str, *, https: bool = True, follow: bool = False) -> tuple[int, dict[str, str], bytes]:
        """GET through nginx on the namespace address with Host: the test domain."""
        port = self.https_port if https else self.http_port
        handlers: list[Any] = [
            urllib.request.ProxyHandler({}),
            _PinnedHTTPSHandler(self.ssl_context(), ADDRESS, port),
            _PinnedHTTPHandler(ADDRESS, port),
        ]
        if not follow:
            handlers.append(_NoRedirect())
        opener = urllib.request.build_opener(*handlers)
        scheme = "https" if https else "http"
        default = 443 if https else 80
        url = f"{scheme}://{DOMAIN}" + ("" if port == default else f":{port}") + path
        try:
            with opener.open(url, timeout=10) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), error.read()

    def healthz(self) -> tuple[int, dict[str, Any]]:
        status, _, body = self.get("/healthz")
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {"raw": body.decode(errors="replace")}

    def log_of(self, name: str) -> str:
        return self.processes[name].log.read_text(errors="replace")

    def restart_web(self, port: int) -> None:
        """What `systemctl restart cv-web@<port>` does: SIGTERM, then the same command again,
        back once it answers (the installer's rerun waits the same way before the next one)."""
        name = f"web@{port}"
        command = self.commands[name]
        self.processes[name].stop()
        user = command.user if command.run_as_unit_user else None
        process = _spawn(self, name, command.argv, env=command.env, cwd=command.cwd, user=user)
        _wait(f"daphne on {port} after its restart", lambda: _http_answers(port, "/healthz"), [process])

    def stop(self) -> None:
        for stopper in reversed(self._stoppers):
            try:
                stopper()
            except Exception as error:
                print(f"stopping the stack: {error!r}")
        self._stoppers.clear()


class _Pinned:
    """Connect to the namespace address whatever the URL's host (as Chromium's resolver rule does)."""

    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext, address: str, port: int) -> None:
        super().__init__(context=context)
        self._context, self._pin = context, _Pinned(address, port)

    def https_open(self, req: urllib.request.Request) -> Any:
        import http.client

        pin, context = self._pin, self._context

        class Connection(http.client.HTTPSConnection):
            def connect(self) -> None:
                sock = socket.create_connection((pin.address, pin.port), self.timeout)
                self.sock = context.wrap_socket(sock, server_hostname=DOMAIN)

        return self.do_open(Connection, req)


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, address: str, port: int) -> None:
        super().__init__()
        self._pin = _Pinned(address, port)

    def http_open(self, req: urllib.request.Request) -> Any:
        import http.client

        pin = self._pin

        class Connection(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.create_connection((pin.address, pin.port), self.timeout)

        return self.do_open(Connection, req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- certificate ------------------------------------------------------------------------------


def make_certificate(workdir: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for the test domain; return cert, key and its SPKI SHA-256 (base64)."""
    cert, key = workdir / "tls" / "cert.pem", workdir / "tls" / "key.pem"
    cert.parent.mkdir()
    subprocess.run(
        [
            OPENSSL,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={DOMAIN}",
            "-addext",
            f"subjectAltName=DNS:{DOMAIN}",
        ],
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        [OPENSSL, "x509", "-in", str(cert), "-noout", "-pubkey"], check=True, capture_output=True
    ).stdout
    der = subprocess.run(
        [OPENSSL, "pkey", "-pubin", "-outform", "der"], input=public, check=True, capture_output=True
    ).stdout
    return cert, key, base64.b64encode(hashlib.sha256(der).digest()).decode()


# --- helpers ---------------------------------------------------------------------------------


def _wait(what: str, ready: Callable[[], bool], processes: list[Process], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for process in processes:
            if process.proc.poll() is not None:
                raise StackError(
                    f"{process.name} exited with {process.proc.returncode} while waiting for {what}:\n{process.tail()}"
                )
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}:\n{p.tail()}" for p in processes)
            raise StackError(f"{what}: not ready within {timeout:.0f} s\n{tails}")
        time.sleep(0.1)


def _tcp_answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_answers(port: int, path: str) -> bool:
    """A web process answers 200 directly, to the Host and scheme nginx would send."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": DOMAIN, "X-Forwarded-Proto": "https"}
    )
    try:
        with opener.open(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _spawn(
    stack: Stack, name: str, argv: list[str], *, env: dict[str, str], cwd: str, user: str | None = None
) -> Process:
    log = stack.workdir / "logs" / f"{name}.log"
    log.parent.mkdir(exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user,
            group=_group_of(user),
            start_new_session=True,
        )
    process = Process(name, proc, log)
    stack.processes[name] = process
    stack._stoppers.append(process.stop)
    return process


def _group_of(user: str | None) -> int | None:
    if user is None:
        return None
    import pwd

    return pwd.getpwnam(user).pw_gid


# --- rendering deploy/ -------------------------------------------------------------------------


@dataclass
class Rendered:
    """The rendered deploy/ files, found by what they are."""

    directory: Path
    nginx_site: Path
    web_unit: Path
    worker_unit: Path
    beat_unit: Path
    media_unit: Path
    turnserver_conf: Path
    env_file: Path


def render_deploy(root: Path, values: dict[str, str]) -> Rendered:
    """Render every deploy/ template with deploy/render.py under `root`, as the installer does under /."""
    args = [sys.executable, str(DEPLOY / "render.py"), "--root", str(root)]
    args += [f"--set={key}={value}" for key, value in values.items()]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"deploy/render.py failed:\n{result.stdout}{result.stderr}")
    units = root / "etc" / "systemd" / "system"
    return Rendered(
        directory=root,
        nginx_site=root / "etc" / "nginx" / "sites-available" / "classe-virtuelle.conf",
        web_unit=units / "cv-web@.service",
        worker_unit=units / "cv-worker.service",
        beat_unit=units / "cv-beat.service",
        media_unit=units / "cv-media@.service",
        turnserver_conf=root / "etc" / "turnserver.conf",
        env_file=root / "etc" / "classe-virtuelle" / "env",
    )


def upstream_ports(site: str) -> list[int]:
    """The web ports of the nginx site's upstream block(s): one web unit instance per port."""
    ports: list[int] = []
    for block in re.findall(r"upstream\s+\S+\s*\{(.*?)\}", site, re.S):
        ports += [int(port) for port in re.findall(r"server\s+(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)", block)]
    return ports


def nginx_main_conf(workdir: Path, site: Path) -> Path:
    """A minimal nginx.conf around the rendered site: temporary prefix, pid, logs and temp paths."""
    prefix = workdir / "nginx"
    for name in ("logs", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / name).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    log_format upstreams '$remote_addr "$request" $status upstream=$upstream_addr';
    access_log {prefix}/logs/access.log upstreams;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""
    )
    return conf


def _run_unit(stack: Stack, name: str, unit_path: Path, instance: str | None = None) -> Process:
    """Start one unit as systemd would: ExecStartPre= lines to completion, then ExecStart=."""
    unit_name = unit_path.name.replace("@.", f"@{instance}.") if instance is not None else unit_path.name
    command = command_for(parse_unit(unit_path, unit_name), stack.workdir / "systemd-dirs")
    stack.commands[name] = command
    user = command.user if command.run_as_unit_user else None
    if command.user and not command.run_as_unit_user:
        note = f"{unit_name}: User={command.user} does not exist here, run as {_current_user()}"
        if note not in stack.notes:
            stack.notes.append(note)
    for pre in command.pre:
        done = subprocess.run(
            pre,
            env=command.env,
            cwd=command.cwd,
            capture_output=True,
            text=True,
            user=user,
            group=_group_of(user),
            timeout=120,
        )
        if done.returncode != 0:
            raise StackError(f"{unit_name}: ExecStartPre {pre} failed:\n{done.stdout}{done.stderr}")
    return _spawn(stack, name, command.argv, env=command.env, cwd=command.cwd, user=user)


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


SERVICE_USER = "classe-virtuelle"
WEB_PORTS = (8001, 8002)
MEDIA_NODES = ("1", "2")
SLIDES_MAX_BYTES = 50 * 1024 * 1024
TURN_MIN_PORT, TURN_MAX_PORT = 61000, 65535


def render_values(
    workdir: Path, cert: Path, key: Path, postgres_url: str, redis_url: str, slapd: SlapdInstance
) -> dict[str, str]:
    """What scripts/install-server gives render.py (its own certificate: HSTS on), for the test domain,
    this checkout and the test services; TURN_EXTERNAL_IP and TURN_ALLOWED_PEER_IP are this host's
    address, as the installer finds it."""
    root = workdir / "root"
    state = workdir / "state"
    return {
        "DOMAIN": DOMAIN,
        "PREFIX": str(ROOT),
        "SERVICE_USER": SERVICE_USER,
        "STATE_DIR": str(state),
        "ENV_FILE": str(root / "etc" / "classe-virtuelle" / "env"),
        "STATIC_ROOT": str(ROOT / "staticfiles"),
        "ACME_ROOT": str(workdir / "acme"),
        "TLS_CERT": str(cert),
        "TLS_KEY": str(key),
        "HSTS_SECONDS": "63072000",
        "CLIENT_MAX_BODY_SIZE": f"{(SLIDES_MAX_BYTES + 2**20 - 1) // 2**20 + 1}m",
        "WEB_UPSTREAM": "\n".join(f"server 127.0.0.1:{port} max_fails=0;" for port in WEB_PORTS),
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": DOMAIN,
        "TRUSTED_PROXIES": "127.0.0.1,::1",
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "LDAP_URI": slapd.uri,
        "LDAP_BASE_DN": slapd.base_dn,
        "LDAP_BIND_DN": "",
        "LDAP_BIND_PASSWORD": "",
        "LDAP_START_TLS": "0",
        "MEDIA_PUBLIC_IP": "",
        # By address: Chromium's WebRTC resolves TURN host names without --host-resolver-rules
        # (with turn:classe.test it never reached coturn), where a real server has real DNS.
        "TURN_URL": f"turn:{ADDRESS}:3478?transport=udp,turn:{ADDRESS}:3478?transport=tcp",
        "TURN_SECRET": TURN_SECRET,
        "MEDIA_ROOT": str(state / "uploads"),
        "SLIDES_MAX_BYTES": str(SLIDES_MAX_BYTES),
        "METRICS_TOKEN": "metrics-token-for-tests-only",
        "TURN_TLS_CERT": str(cert),
        "TURN_TLS_KEY": str(key),
        "TURN_MIN_PORT": str(TURN_MIN_PORT),
        "TURN_MAX_PORT": str(TURN_MAX_PORT),
        "TURN_EXTERNAL_IP": ADDRESS,
        "TURN_ALLOWED_PEER_IP": ADDRESS,
    }


def _manage(stack: Stack, command: Command, *args: str) -> None:
    """manage.py with a unit's environment, as the shipped classe-virtuelle-manage runs it."""
    user = command.user if command.run_as_unit_user else None
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "manage.py"), *args],
        env=command.env,
        cwd=command.cwd,
        capture_output=True,
        text=True,
        user=user,
        group=_group_of(user),
        timeout=180,
    )
    if done.returncode != 0:
        raise StackError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _coturn(stack: Stack, conf: Path) -> Process:
    """coturn in the foreground on the rendered configuration, logging to a file of ours.

    Adjusted: `syslog` is dropped (no syslog in the namespace; the test reads coturn's log), and
    the pid file and user database go to the temporary directory instead of /var.
    """
    text = conf.read_text()
    adjusted = stack.workdir / "turnserver.conf"
    adjusted.write_text(re.sub(r"(?m)^syslog\s*$", "# syslog (dropped by the test)", text))
    stack.turn_log = stack.workdir / "logs" / "turnserver.log"
    stack.turn_log.parent.mkdir(exist_ok=True)
    argv = [
        TURNSERVER,
        "-c",
        str(adjusted),
        "--log-file",
        str(stack.turn_log),
        "--no-stdout-log",
        "--pidfile",
        str(stack.workdir / "turnserver.pid"),
        "--db",
        str(stack.workdir / "turndb"),
        "-v",
    ]
    return _spawn(stack, "coturn", argv, env={"PATH": "/usr/sbin:/usr/bin"}, cwd=str(stack.workdir))


def _nginx(stack: Stack, site: Path) -> Process:
    """nginx on the rendered site, in a minimal nginx.conf of ours; the site itself is unchanged."""
    conf = nginx_main_conf(stack.workdir, site)
    stack.nginx_access_log = stack.workdir / "nginx" / "logs" / "access.log"
    prefix = str(stack.workdir / "nginx")
    checked = subprocess.run([NGINX, "-t", "-p", prefix, "-c", str(conf)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise StackError(f"nginx -t refuses the rendered site:\n{checked.stderr}")
    return _spawn(
        stack,
        "nginx",
        [NGINX, "-p", prefix, "-c", str(conf), "-g", "daemon off;"],
        env={"PATH": "/usr/sbin:/usr/bin"},
        cwd=prefix,
    )


def _media_nodes_registered(redis_url: str, ids: list[str]) -> bool:
    import redis

    from media_server import bus

    client = redis.Redis.from_url(redis_url)
    try:
        return all(client.exists(bus.node_key(node_id)) for node_id in ids)
    finally:
        client.close()


def start_stack(workdir: Path, slapd: SlapdInstance) -> Stack:
    """Start the whole shipped shape; on any failure stop what started and raise."""
    began = time.monotonic()
    stack = Stack(workdir)
    try:
        cert, key, stack.spki = make_certificate(workdir)
        stack.cert = cert
        postgres = start_postgres()
        stack._stoppers.append(postgres.stop)
        redis_server = start_redis()
        stack._stoppers.append(redis_server.stop)
        (workdir / "state").mkdir()
        (workdir / "acme").mkdir()
        values = render_values(workdir, cert, key, postgres.url, redis_server.url, slapd)
        rendered = render_deploy(workdir / "root", values)
        stack.web_ports = upstream_ports(rendered.nginx_site.read_text())

        # What the installer does before starting the units, with the web unit's environment.
        web = command_for(
            parse_unit(rendered.web_unit, f"cv-web@{stack.web_ports[0]}.service"), workdir / "systemd-dirs"
        )
        _manage(stack, web, "migrate", "--noinput", "-v", "0")
        _manage(stack, web, "collectstatic", "--noinput", "-v", "0")
        _manage(stack, web, "sync_directory")
        stack.timings["database ready"] = time.monotonic() - began

        webs = [_run_unit(stack, f"web@{port}", rendered.web_unit, str(port)) for port in stack.web_ports]
        worker = _run_unit(stack, "worker", rendered.worker_unit)
        beat = _run_unit(stack, "beat", rendered.beat_unit)
        nodes = [_run_unit(stack, f"media@{n}", rendered.media_unit, n) for n in MEDIA_NODES]
        stack.media_node_ids = [stack.commands[f"media@{n}"].env["MEDIA_NODE_ID"] for n in MEDIA_NODES]
        coturn = _coturn(stack, rendered.turnserver_conf)
        nginx = _nginx(stack, rendered.nginx_site)
        everything = [*webs, worker, beat, *nodes, coturn, nginx]

        for port in stack.web_ports:
            _wait(f"daphne on {port}", lambda port=port: _http_answers(port, "/accounts/login/"), everything)  # type: ignore[misc]
        _wait("nginx over HTTPS", lambda: _tcp_answers(ADDRESS, stack.https_port), everything)
        _wait("coturn", lambda: _tcp_answers(ADDRESS, 3478), everything)
        _wait("both media nodes", lambda: _media_nodes_registered(redis_server.url, stack.media_node_ids), everything)
        _wait("the Celery worker", lambda: " ready." in worker.tail(20000), everything)
        stack.timings["stack started"] = time.monotonic() - began
        return stack
    except BaseException:
        stack.stop()
        raise
