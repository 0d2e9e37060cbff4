"""Start real slapd, Redis, PostgreSQL and daphne servers for tests, and the fixtures that wrap them.

Each server listens on a free port of 127.0.0.1 and keeps its files in a temporary directory
that stop() removes. Under `scripts/netns-run` that loopback is the namespace's own.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_LDIF = ROOT / "tests" / "directory" / "test_school.ldif"
DEMO_LDIF = ROOT / "directory" / "demo_school.ldif"
SAMBA_SCHEMA = ROOT / "directory" / "schema" / "samba.schema"
SYSTEM_SCHEMA_DIR = Path("/etc/ldap/schema")
SLAPD_MODULE_DIR = Path("/usr/lib/ldap")
ROOT_PASSWORD = "rootsecret"
START_TIMEOUT = 10.0
POSTGRES_USER = "classe"
POSTGRES_PASSWORD = "classe-test"
POSTGRES_DB = "classe"
# Debian installs the server outside PATH, one directory per major version.
POSTGRES_BIN_DIRS = "/usr/lib/postgresql/*/bin"


class ServiceError(RuntimeError):
    """A test server failed to start."""


def _which(name: str) -> str | None:
    # slapd and slapadd live in /usr/sbin, which a non-root PATH often lacks.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _first_dn(ldif_path: Path) -> str:
    """Return the DN of the LDIF's first entry, which is the directory's base."""
    with open(ldif_path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("dn:: "):
                return base64.b64decode(line[5:].strip()).decode()
            if line.startswith("dn: "):
                return line[4:].strip()
    raise ServiceError(f"{ldif_path} has no entry")


def _wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    log: Path,
    what: str,
    timeout: float = START_TIMEOUT,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        if ready():
            return
        if time.monotonic() > deadline:
            proc.kill()
            raise ServiceError(f"{what} did not answer within {timeout}s:\n{log.read_text(errors='replace')}")
        time.sleep(0.005)


def _stop(proc: subprocess.Popen[bytes], workdir: Path, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class SlapdInstance:
    """A running slapd serving one LDIF; anonymous read, userPassword usable only to bind."""

    uri: str
    base_dn: str
    root_dn: str
    root_password: str
    workdir: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        _stop(self.process, self.workdir)


@dataclass
class RedisInstance:
    """A running redis-server without persistence."""

    url: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        _stop(self.process, self.workdir)


@dataclass
class PostgresInstance:
    """A running PostgreSQL cluster with one database, no durability, gone after stop()."""

    url: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    user: str = POSTGRES_USER
    password: str = POSTGRES_PASSWORD
    dbname: str = POSTGRES_DB

    def stop(self) -> None:
        # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client to leave.
        _stop(self.process, self.workdir, signal.SIGINT)


def _slapd_conf(workdir: Path, base_dn: str, root_dn: str) -> str:
    schemas = [SYSTEM_SCHEMA_DIR / f"{name}.schema" for name in ("core", "cosine", "nis", "inetorgperson")]
    schemas.append(SAMBA_SCHEMA)
    includes = "\n".join(f'include "{path}"' for path in schemas)
    modules = ""
    if (SLAPD_MODULE_DIR / "back_mdb.so").exists():
        # Debian builds the backend and pw-sha2 ({SSHA512} and friends) as modules.
        modules = f"modulepath {SLAPD_MODULE_DIR}\nmoduleload back_mdb\n"
        if (SLAPD_MODULE_DIR / "pw-sha2.so").exists():
            modules += "moduleload pw-sha2\n"
    return f"""{includes}
pidfile "{workdir}/slapd.pid"
argsfile "{workdir}/slapd.args"
{modules}
database mdb
maxsize 1073741824
dbnosync
suffix "{base_dn}"
rootdn "{root_dn}"
rootpw {ROOT_PASSWORD}
directory "{workdir}/data"
index objectClass,uid,memberUid,member,cn eq
# Like a school server: whole-directory reads page through results without a total cap.
limits * size.prtotal=unlimited size.pr=1000

# Everything but passwords is readable anonymously; passwords are only usable to bind.
access to attrs=userPassword,sambaNTPassword,sambaLMPassword
    by anonymous auth
    by * none
access to *
    by * read
"""


def start_slapd(ldif_path: str | os.PathLike[str] = TEST_LDIF) -> SlapdInstance:
    """Load an LDIF into a fresh slapd on a free 127.0.0.1 port and wait until it answers."""
    slapd, slapadd = _which("slapd"), _which("slapadd")
    if not slapd or not slapadd:
        raise ServiceError("slapd/slapadd not found (apt-get install slapd ldap-utils)")
    ldif_path = Path(ldif_path)
    base_dn = _first_dn(ldif_path)
    root_dn = f"cn=admin,{base_dn}"
    workdir = Path(tempfile.mkdtemp(prefix="cv-slapd-"))
    try:
        (workdir / "data").mkdir()
        conf = workdir / "slapd.conf"
        conf.write_text(_slapd_conf(workdir, base_dn, root_dn))
        loaded = subprocess.run(
            [slapadd, "-q", "-f", str(conf), "-l", str(ldif_path)],
            check=False,
            capture_output=True,
            text=True,
        )
        if loaded.returncode != 0:
            raise ServiceError(f"slapadd failed on {ldif_path}:\n{loaded.stderr}")
        last_error: Exception | None = None
        for _attempt in range(3):  # another process may grab the free port before slapd binds it
            port = _free_port()
            uri = f"ldap://127.0.0.1:{port}"
            log = workdir / "slapd.log"
            with open(log, "wb") as log_handle:
                # -d keeps slapd in the foreground (so stop() owns it); level 0 logs nothing routine.
                proc = subprocess.Popen(
                    [slapd, "-f", str(conf), "-h", f"{uri}/", "-d", "0"],
                    stdout=log_handle,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            try:
                _wait_until(partial(_ldap_answers, uri, base_dn), proc, log, "slapd")
            except ServiceError as error:
                last_error = error
                _stop(proc, workdir / "none")
                continue
            return SlapdInstance(uri, base_dn, root_dn, ROOT_PASSWORD, workdir, proc)
        raise ServiceError(str(last_error))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _ldap_answers(uri: str, base_dn: str) -> bool:
    import ldap

    conn = ldap.initialize(uri)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 1.0)
    conn.set_option(ldap.OPT_TIMEOUT, 1.0)
    try:
        conn.search_s(base_dn, ldap.SCOPE_BASE, attrlist=["1.1"])
    except ldap.LDAPError:
        return False
    finally:
        conn.unbind_s()
    return True


def start_redis() -> RedisInstance:
    """Start a redis-server on a free 127.0.0.1 port, without persistence, and wait for PING."""
    server = _which("redis-server")
    if not server:
        raise ServiceError("redis-server not found (apt-get install redis-server)")
    workdir = Path(tempfile.mkdtemp(prefix="cv-redis-"))
    try:
        last_error: Exception | None = None
        for _attempt in range(3):
            port = _free_port()
            log = workdir / "redis.log"
            with open(log, "wb") as log_handle:
                proc = subprocess.Popen(
                    [
                        server,
                        "--bind",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--dir",
                        str(workdir),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                        "--loglevel",
                        "warning",
                    ],
                    stdout=log_handle,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            url = f"redis://127.0.0.1:{port}/0"
            try:
                _wait_until(partial(_redis_answers, port), proc, log, "redis-server")
            except ServiceError as error:
                last_error = error
                _stop(proc, workdir / "none")
                continue
            return RedisInstance(url, port, workdir, proc)
        raise ServiceError(str(last_error))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _redis_answers(port: int) -> bool:
    # Raw RESP keeps readiness polling cheap and independent of redis-py's retry logic.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def postgres_bin_dir() -> Path | None:
    """Return the directory holding initdb and postgres: PATH first, then Debian's newest."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).parent
    found = sorted(
        Path("/").glob(POSTGRES_BIN_DIRS.lstrip("/")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for directory in reversed(found):
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    return None


def _as_postgres_user(workdir: Path) -> list[str]:
    """The command prefix that drops root to the `postgres` user, which then owns workdir.

    PostgreSQL refuses to run as root, and the suite runs as root under `scripts/netns-run`.
    """
    if os.geteuid() != 0:
        return []
    import pwd

    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError("running as root and there is no `postgres` user to run PostgreSQL as") from None
    os.chown(workdir, account.pw_uid, account.pw_gid)
    setpriv = _which("setpriv")
    if not setpriv:
        raise ServiceError("setpriv not found (apt-get install util-linux)")
    # setpriv execs in place, so the Popen pid is the server itself and stop() signals it.
    return [setpriv, "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def postgres_command(as_postgres: list[str], bin_dir: Path, data: Path, port: int, workdir: Path) -> list[str]:
    """The server's command line: loopback only, its socket in the workdir, durability off (tests)."""
    settings = [
        "listen_addresses=127.0.0.1",
        f"unix_socket_directories={workdir}",
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        "max_connections=200",
        "log_min_messages=warning",
    ]
    return [*as_postgres, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)] + [
        part for setting in settings for part in ("-c", setting)
    ]


def start_postgres() -> PostgresInstance:
    """Create a throwaway cluster, start it on a free 127.0.0.1 port and create its database.

    The superuser `classe` (password authentication over TCP) owns the database `classe` and
    may create others, as pytest-django's test database. fsync is off: nothing here must last.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise ServiceError("PostgreSQL not found (apt-get install postgresql)")
    workdir = Path(tempfile.mkdtemp(prefix="cv-postgres-"))
    try:
        as_postgres = _as_postgres_user(workdir)
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        env.pop("PGDATA", None)
        (workdir / "pwfile").write_text(POSTGRES_PASSWORD + "\n")
        data = workdir / "data"
        initdb = subprocess.run(
            [
                *as_postgres,
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                POSTGRES_USER,
                "--pwfile",
                str(workdir / "pwfile"),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=workdir,
        )
        if initdb.returncode != 0:
            raise ServiceError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        last_error: Exception | None = None
        for _attempt in range(3):
            port = _free_port()
            log = workdir / "postgres.log"
            with open(log, "wb") as log_handle:
                proc = subprocess.Popen(
                    postgres_command(as_postgres, bin_dir, data, port, workdir),
                    stdout=log_handle,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=workdir,
                )
            try:
                _wait_until(partial(_postgres_answers, port), proc, log, "postgres")
            except ServiceError as error:
                last_error = error
                _stop(proc, workdir / "none", signal.SIGINT)
                continue
            _create_database(port, POSTGRES_DB)
            url = f"postgres://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{port}/{POSTGRES_DB}"
            return PostgresInstance(url, port, workdir, proc)
        raise ServiceError(str(last_error))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _postgres_answers(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            user=POSTGRES_USER,
            password=POSTGRES_PASSWORD,
            dbname="postgres",
            connect_timeout=1,
        ):
            return True
    except psycopg.OperationalError:
        return False


def _create_database(port: int, name: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=POSTGRES_USER,
        password=POSTGRES_PASSWORD,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _require_postgres() -> None:
    """Skip without PostgreSQL's server binaries, except under CI where that is a failure."""
    if postgres_bin_dir():
        return
    message = "PostgreSQL is not installed (run `make install` or scripts/install-system-deps)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _require(binary: str) -> None:
    """Skip when a server binary is missing, except under CI where that is a failure."""
    if _which(binary):
        return
    message = f"{binary} is not installed (run `make install` or scripts/install-system-deps)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def slapd() -> Iterator[SlapdInstance]:
    """A slapd serving tests/directory/test_school.ldif for the whole session; do not modify it."""
    _require("slapd")
    instance = start_slapd(TEST_LDIF)
    yield instance
    instance.stop()


@pytest.fixture
def fresh_slapd() -> Iterator[SlapdInstance]:
    """A slapd of its own for one test, which may change it through root_dn/root_password."""
    _require("slapd")
    instance = start_slapd(TEST_LDIF)
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisInstance]:
    """A redis-server for the whole session; tests share it, so flush or namespace keys."""
    _require("redis-server")
    instance = start_redis()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresInstance]:
    """A PostgreSQL cluster for the whole session; its `url` names an empty database."""
    _require_postgres()
    instance = start_postgres()
    yield instance
    instance.stop()


@dataclass
class AsgiServer:
    """A daphne process serving config.asgi:application on 127.0.0.1, as a web unit does."""

    port: int
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        _stop(self.process, self.log.parent / "none")


def start_daphne(env: dict[str, str], log: Path) -> AsgiServer:
    """Start daphne on a free port with exactly this environment and wait until it listens."""
    last_error: Exception | None = None
    for _attempt in range(3):
        port = _free_port()
        with open(log, "ab") as log_handle:
            proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=ROOT,
            )
        try:
            _wait_until(partial(_port_answers, port), proc, log, "daphne", timeout=30.0)
        except ServiceError as error:
            last_error = error
            _stop(proc, log.parent / "none")
            continue
        return AsgiServer(port, log, proc)
    raise ServiceError(str(last_error))


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
