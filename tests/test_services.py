"""The real test servers answer: slapd serves the test school, Redis PING, PostgreSQL a query.

The fixtures come from tests/services.py through tests/conftest.py.
"""

from __future__ import annotations

import ldap
import psycopg
import pytest
import redis

from tests.services import PostgresInstance, RedisInstance, SlapdInstance

LEA_DN = "uid=lea.martin,ou=People,dc=lycee-test,dc=ac-test"


def _anonymous(slapd: SlapdInstance) -> ldap.ldapobject.LDAPObject:
    conn = ldap.initialize(slapd.uri)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5.0)
    return conn


def test_it_serves_the_test_school_anonymously(slapd: SlapdInstance) -> None:
    found = _anonymous(slapd).search_s(slapd.base_dn, ldap.SCOPE_SUBTREE, "(uid=lea.martin)", ["cn", "gecos"])
    assert found == [(LEA_DN, {"cn": ["Léa Martin".encode()], "gecos": [b"Lea Martin,20080412,F,N"]})]


def test_it_serves_groups_of_both_kinds(slapd: SlapdInstance) -> None:
    conn = _anonymous(slapd)
    classe = conn.search_s(f"cn=Classe_6A,ou=Groups,{slapd.base_dn}", ldap.SCOPE_BASE)
    admins = conn.search_s(f"cn=se3_is_admin,ou=Rights,{slapd.base_dn}", ldap.SCOPE_BASE)
    assert classe[0][1]["memberUid"] == [b"lea.martin", b"zoe.bernard"]
    assert admins[0][1]["member"] == [
        f"uid=admin,ou=People,{slapd.base_dn}".encode(),
        f"cn=Direction,ou=Groups,{slapd.base_dn}".encode(),
    ]


@pytest.mark.parametrize("uid", ["marie.curie", "louis.pasteur", "lea.martin"])  # SSHA, SHA, CRYPT
def test_it_binds_with_the_right_password(slapd: SlapdInstance, uid: str) -> None:
    conn = _anonymous(slapd)
    conn.simple_bind_s(f"uid={uid},ou=People,{slapd.base_dn}", "secret")
    assert conn.whoami_s() == f"dn:uid={uid},ou=People,{slapd.base_dn}"


def test_it_refuses_a_wrong_password(slapd: SlapdInstance) -> None:
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        _anonymous(slapd).simple_bind_s(LEA_DN, "wrong")


def test_it_hides_passwords_from_anonymous_readers(slapd: SlapdInstance) -> None:
    found = _anonymous(slapd).search_s(LEA_DN, ldap.SCOPE_BASE, attrlist=["*"])
    assert "uid" in found[0][1]
    assert "userPassword" not in found[0][1]


def test_fresh_slapd_can_be_changed_by_its_root(fresh_slapd: SlapdInstance) -> None:
    conn = _anonymous(fresh_slapd)
    conn.simple_bind_s(fresh_slapd.root_dn, fresh_slapd.root_password)
    conn.delete_s(LEA_DN)
    assert conn.search_s(fresh_slapd.base_dn, ldap.SCOPE_SUBTREE, "(uid=lea.martin)") == []


def test_redis_answers_ping(redis_server: RedisInstance) -> None:
    client = redis.Redis.from_url(redis_server.url)
    assert client.ping() is True


def test_postgres_answers_with_its_database(postgres_server: PostgresInstance) -> None:
    with psycopg.connect(postgres_server.url, connect_timeout=5) as conn:
        row = conn.execute("SELECT current_database(), current_user, version()").fetchone()
    assert row is not None
    assert row[:2] == (postgres_server.dbname, postgres_server.user)
    assert row[2].startswith("PostgreSQL ")


@pytest.mark.django_db
def test_the_tests_run_on_the_database_asked_for() -> None:
    from django.db import connection

    from tests.conftest import DATABASE

    assert connection.vendor == {"sqlite": "sqlite", "postgres": "postgresql"}[DATABASE]
    assert "init_command" not in connection.settings_dict.get("OPTIONS", {}) or DATABASE == "sqlite"
