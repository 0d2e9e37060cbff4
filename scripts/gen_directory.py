#!/usr/bin/env python3
"""Generate a SambaÉdu 3 shaped school directory as LDIF (see SPEC section 6).

Three ways to use it:

    gen_directory.py --preset test -o tests/directory/test_school.ldif
    gen_directory.py --preset demo -o directory/demo_school.ldif
    gen_directory.py --students 2500 --classes 100 --teachers 150 --no-passwords -o big.ldif

The output is deterministic for a given seed (password salts included), so the committed LDIFs
only change when this script does.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import string
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

with warnings.catch_warnings():
    # Deprecated since 3.11 but present up to 3.12; only needed for {CRYPT}.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt as _crypt
    except ImportError:  # pragma: no cover - Python 3.13+
        _crypt = None  # type: ignore[assignment]

Kind = Literal["student", "teacher", "staff", "admin", "other"]
Scheme = Literal["ssha", "sha", "crypt", "ssha512"]
SCHEMES: tuple[Scheme, ...] = ("ssha", "sha", "crypt", "ssha512")

# SambaÉdu's lcs-users: every account's primary group, so membership of it says nothing.
USERS_GID = 5005
FIRST_UID_NUMBER = 1001
FIRST_GROUP_GID = 2000
SAMBA_DOMAIN_SID = "S-1-5-21-3315276523-1804585342-2735412817"

# (full name used in Matiere_<name>, short code used in Cours_<code>_<div>)
SUBJECTS: tuple[tuple[str, str], ...] = (
    ("Francais", "FR"),
    ("Mathematiques", "MATHS"),
    ("Physique", "PC"),
    ("SVT", "SVT"),
    ("Histoire-Geographie", "HG"),
    ("Anglais", "ANG"),
    ("Espagnol", "ESP"),
    ("Allemand", "ALL"),
    ("EPS", "EPS"),
    ("Technologie", "TECHNO"),
    ("Arts-Plastiques", "AP"),
    ("Musique", "MUS"),
)

# fmt: off
FIRST_NAMES_F = (
    "Léa", "Zoé", "Anaïs", "Hélène", "Chloé", "Inès", "Clémence", "Gaëlle", "Éloïse", "Célia",
    "Bérénice", "Manon", "Camille", "Jade", "Louise", "Emma", "Maëlys", "Noémie", "Océane",
    "Anne-Sophie", "Marie-Ève", "Sarah", "Yasmine", "Agathe", "Margaux", "Salomé", "Lina",
)
FIRST_NAMES_M = (
    "François", "Jean-Édouard", "Noé", "Maël", "Jérôme", "Loïc", "Théo", "Mathéo", "Raphaël",
    "Joël", "Aurélien", "Hugo", "Lucas", "Nathan", "Gabriel", "Adam", "Léo", "Timothée",
    "Pierre-Henri", "Benoît", "Élie", "Samuel", "Yanis", "Enzo", "Rémi", "Sébastien", "Jules",
)
SURNAMES = (
    "Martin", "Bernard", "Petit", "Dubois", "Lefèvre", "Girard", "Mercier", "Lemaître", "Bérard",
    "Chevalier", "Lacroix", "Fournier", "Morel", "Faure", "André", "Rousseau", "Gauthier",
    "Perrin", "Rivière", "Le Gall", "Da Silva", "Benoît", "Ménard", "Brûlé", "Boulanger",
    "Garnier", "Noël", "D'Almeida", "Saint-Just", "Nguyen", "Roux", "Bonnet", "Lambert",
    "François", "Muller", "Lefort", "Denis", "Mathieu", "Clément", "Gérard", "Hervé", "Léger",
)
# fmt: on


@dataclass
class Person:
    uid: str
    given_name: str
    surname: str
    kind: Kind
    sex: Literal["M", "F"]
    birth: str  # YYYYMMDD
    number: str | None  # employeeNumber (P-prefixed for teachers), None when the school has none

    @property
    def cn(self) -> str:
        return f"{self.given_name} {self.surname}"


@dataclass
class Group:
    cn: str
    ou: Literal["Groups", "Rights"]
    posix: bool  # posixGroup with memberUid; else groupOfNames with member DNs
    members: list[str] = field(default_factory=list)  # uids, or DNs for groupOfNames
    description: str | None = None


@dataclass
class Directory:
    base_dn: str
    school: str
    people: list[Person]
    groups: list[Group]

    def user_dn(self, uid: str) -> str:
        return f"uid={uid},ou=People,{self.base_dn}"

    def group_dn(self, cn: str, ou: str = "Groups") -> str:
        return f"cn={cn},ou={ou},{self.base_dn}"


# --- names -------------------------------------------------------------------------------------


def ascii_fold(text: str) -> str:
    """Strip accents: 'Jean-Édouard' -> 'Jean-Edouard'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).encode("ascii", "ignore").decode()


def make_uid(given_name: str, surname: str, taken: set[str]) -> str:
    """Return a free SambaÉdu uid 'prenom.nom': ASCII lowercase, no hyphens or spaces."""

    def squash(part: str) -> str:
        return "".join(c for c in ascii_fold(part).lower() if c in string.ascii_lowercase + string.digits)

    base = f"{squash(given_name)}.{squash(surname)}"
    uid, n = base, 1
    while uid in taken:
        n += 1
        uid = f"{base}{n}"
    taken.add(uid)
    return uid


# --- passwords ---------------------------------------------------------------------------------

_CRYPT_SALT_CHARS = string.ascii_letters + string.digits + "./"


def hash_password(password: str, scheme: Scheme, rng: random.Random) -> str:
    """Hash a password the way slapd's userPassword stores it."""
    raw = password.encode()
    if scheme == "sha":
        return "{SHA}" + base64.b64encode(hashlib.sha1(raw).digest()).decode()
    if scheme in ("ssha", "ssha512"):
        salt = bytes(rng.randrange(256) for _ in range(8))
        digest = (hashlib.sha1 if scheme == "ssha" else hashlib.sha512)(raw + salt).digest()
        return f"{{{scheme.upper()}}}" + base64.b64encode(digest + salt).decode()
    if _crypt is None:
        raise SystemExit("{CRYPT} needs the crypt module (Python <= 3.12)")
    crypt_salt = "".join(rng.choice(_CRYPT_SALT_CHARS) for _ in range(16))
    return "{CRYPT}" + _crypt.crypt(password, f"$6${crypt_salt}")


# --- LDIF --------------------------------------------------------------------------------------


def _needs_base64(value: str) -> bool:
    # RFC 2849 SAFE-STRING: ASCII without NUL/LF/CR, not starting with space, ':' or '<', and we
    # also refuse a trailing space.
    if not value:
        return False
    if value[0] in " :<" or value[-1] == " ":
        return True
    return any(ord(c) > 126 or c in "\0\n\r" for c in value)


def ldif_line(attr: str, value: str) -> str:
    if _needs_base64(value):
        return f"{attr}:: {base64.b64encode(value.encode()).decode()}"
    return f"{attr}: {value}"


def ldif_entry(dn: str, attrs: Iterable[tuple[str, str]], comment: str | None = None) -> str:
    lines = [f"# {comment}"] if comment else []
    lines.append(ldif_line("dn", dn))
    lines.extend(ldif_line(a, v) for a, v in attrs)
    return "\n".join(lines) + "\n\n"


def _base_entry(d: Directory) -> tuple[str, list[tuple[str, str]]]:
    rdn_attr, rdn_value = d.base_dn.split(",", 1)[0].split("=", 1)
    if rdn_attr == "dc":
        return d.base_dn, [
            ("objectClass", "top"),
            ("objectClass", "dcObject"),
            ("objectClass", "organization"),
            ("dc", rdn_value),
            ("o", d.school),
        ]
    return d.base_dn, [
        ("objectClass", "top"),
        ("objectClass", "organizationalUnit"),
        ("ou", rdn_value),
        ("description", d.school),
    ]


def _person_attrs(
    d: Directory,
    p: Person,
    uid_number: int,
    password: str | None,
    mail_domain: str,
    samba: bool,
) -> Iterator[tuple[str, str]]:
    yield from (("objectClass", oc) for oc in ("top", "posixAccount", "shadowAccount", "inetOrgPerson"))
    if samba:
        yield ("objectClass", "sambaSamAccount")
    yield ("uid", p.uid)
    yield ("cn", p.cn)
    yield ("sn", p.surname)
    yield ("givenName", p.given_name)
    yield ("displayName", p.cn)
    yield ("mail", f"{p.uid}@{mail_domain}")
    yield ("gecos", f"{ascii_fold(p.cn)},{p.birth},{p.sex},N")
    if p.number:
        yield ("employeeNumber", p.number)
    yield ("uidNumber", str(uid_number))
    yield ("gidNumber", str(USERS_GID))
    yield ("homeDirectory", f"/home/{p.uid}")
    yield ("loginShell", "/bin/bash")
    yield ("shadowLastChange", "19000")
    if samba:
        yield ("sambaSID", f"{SAMBA_DOMAIN_SID}-{2 * uid_number + 1000}")
        yield ("sambaAcctFlags", "[U          ]")
        yield ("sambaPwdLastSet", "1640995200")
    if password is not None:
        yield ("userPassword", password)


def _group_attrs(d: Directory, g: Group, gid_number: int | None) -> Iterator[tuple[str, str]]:
    if g.posix:
        yield ("objectClass", "top")
        yield ("objectClass", "posixGroup")
        yield ("cn", g.cn)
        yield ("gidNumber", str(gid_number))
        if g.description:
            yield ("description", g.description)
        yield from (("memberUid", uid) for uid in g.members)
    else:
        yield ("objectClass", "top")
        yield ("objectClass", "groupOfNames")
        yield ("cn", g.cn)
        if g.description:
            yield ("description", g.description)
        yield from (("member", dn) for dn in g.members)


def to_ldif(
    d: Directory,
    passwords: dict[str, str] | None,
    mail_domain: str,
    samba: bool,
    header: str,
) -> str:
    """Render the directory; passwords maps uid to a userPassword value (None: no passwords)."""
    out = ["".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines()) + "\n"]
    dn, attrs = _base_entry(d)
    out.append(ldif_entry(dn, attrs))
    for ou in ("People", "Groups", "Rights"):
        out.append(
            ldif_entry(
                f"ou={ou},{d.base_dn}",
                [
                    ("objectClass", "top"),
                    ("objectClass", "organizationalUnit"),
                    ("ou", ou),
                ],
            )
        )
    for i, p in enumerate(d.people):
        pw = passwords.get(p.uid) if passwords is not None else None
        attrs_ = _person_attrs(d, p, FIRST_UID_NUMBER + i, pw, mail_domain, samba)
        out.append(ldif_entry(d.user_dn(p.uid), attrs_, comment=f"{p.cn} ({p.kind})"))
    gid = FIRST_GROUP_GID
    for g in d.groups:
        if not g.posix and not g.members:
            continue  # groupOfNames requires a member
        if g.cn == "lcs-users":
            gid_number: int | None = USERS_GID
        else:
            gid_number, gid = gid, gid + (1 if g.posix else 0)
        out.append(ldif_entry(d.group_dn(g.cn, g.ou), _group_attrs(d, g, gid_number)))
    return "".join(out).rstrip("\n") + "\n"


# --- schools -----------------------------------------------------------------------------------


def base_dn_for(etab: str, acad: str, style: Literal["dc", "ou"]) -> str:
    if style == "dc":
        return f"dc={etab},dc={acad}"
    return f"ou={etab},ou={acad},ou=education,o=gouv,c=fr"


def division_names(count: int) -> list[str]:
    """6A, 5A, 4A, 3A, 6B, ... then 6A2 ... when letters run out."""
    levels, names = ("6", "5", "4", "3"), []
    for i in range(count):
        letter_index, level = divmod(i, len(levels))
        round_, letter = divmod(letter_index, 26)
        suffix = str(round_ + 1) if round_ else ""
        names.append(f"{levels[level]}{string.ascii_uppercase[letter]}{suffix}")
    return names


def _birth(rng: random.Random, year_from: int, year_to: int) -> str:
    return f"{rng.randint(year_from, year_to)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def _random_person(
    rng: random.Random,
    kind: Kind,
    taken: set[str],
    number: str | None,
    years: tuple[int, int],
) -> Person:
    sex: Literal["M", "F"] = rng.choice(("M", "F"))
    given = rng.choice(FIRST_NAMES_F if sex == "F" else FIRST_NAMES_M)
    surname = rng.choice(SURNAMES)
    return Person(
        make_uid(given, surname, taken),
        given,
        surname,
        kind,
        sex,
        _birth(rng, *years),
        number,
    )


def build_school(
    rng: random.Random,
    base_dn: str,
    school: str,
    students: int,
    classes: int | list[str],
    teachers: int,
    staff: int,
    fixed: Iterable[tuple[Person, str | None, str | None]] = (),
) -> Directory:
    """Build a school; fixed people come first as (person, class or None, subject name or None)."""
    taken: set[str] = set()
    divisions = division_names(classes) if isinstance(classes, int) else classes
    people: list[Person] = []
    class_of: dict[str, str] = {}
    subject_of: dict[str, tuple[str, str]] = {}
    subject_by_name = {name: (name, code) for name, code in SUBJECTS}
    fixed_kinds: dict[Kind, int] = {}
    for person, division, subject in fixed:
        taken.add(person.uid)
        people.append(person)
        fixed_kinds[person.kind] = fixed_kinds.get(person.kind, 0) + 1
        if division:
            class_of[person.uid] = division
        if subject:
            subject_of[person.uid] = subject_by_name[subject]

    def fill(kind: Kind, total: int, number: str | None, years: tuple[int, int]) -> list[Person]:
        made = [
            _random_person(rng, kind, taken, number.format(n=n + 1) if number else None, years)
            for n in range(fixed_kinds.get(kind, 0), total)
        ]
        people.extend(made)
        return made

    new_students = fill("student", students, "{n:06d}", (2009, 2014))
    # Spread new students evenly, counting the fixed ones already placed.
    counts = {div: sum(1 for div_ in class_of.values() if div_ == div) for div in divisions}
    for p in new_students:
        div = min(divisions, key=lambda name: (counts[name], divisions.index(name)))
        class_of[p.uid] = div
        counts[div] += 1

    fill("teacher", teachers, "P{n:05d}", (1965, 1995))
    all_teachers = [p for p in people if p.kind == "teacher"]
    # Subjects nobody teaches yet come first, so a small school still covers the basics.
    taken_subjects = set(subject_of.values())
    rotation = [s for s in SUBJECTS if s not in taken_subjects] + [s for s in SUBJECTS if s in taken_subjects]
    for i, t in enumerate(t for t in all_teachers if t.uid not in subject_of):
        subject_of[t.uid] = rotation[i % len(rotation)]
    fill("staff", staff, None, (1965, 1995))

    # Each class gets one teacher per subject, rotating through that subject's teachers.
    by_subject: dict[str, list[Person]] = {}
    for t in all_teachers:
        by_subject.setdefault(subject_of[t.uid][0], []).append(t)
    teaches: dict[tuple[str, str], Person] = {}
    for name, _code in SUBJECTS:
        pool = by_subject.get(name, [])
        for i, div in enumerate(divisions):
            if pool:
                teaches[(div, name)] = pool[i % len(pool)]

    groups = [
        Group("lcs-users", "Groups", True, [], "Groupe principal de tous les comptes"),
        Group("Eleves", "Groups", True, [p.uid for p in people if p.kind == "student"]),
        Group("Profs", "Groups", True, [p.uid for p in all_teachers]),
        Group(
            "Administratifs",
            "Groups",
            True,
            [p.uid for p in people if p.kind == "staff"],
        ),
    ]
    user_dn = f"ou=People,{base_dn}"
    for div in divisions:
        pupils = [p.uid for p in people if class_of.get(p.uid) == div and p.kind == "student"]
        groups.append(Group(f"Classe_{div}", "Groups", True, pupils))
        team = sorted(
            {t.uid for (d_, _s), t in teaches.items() if d_ == div},
            key=[t.uid for t in all_teachers].index,
        )
        groups.append(Group(f"Equipe_{div}", "Groups", False, [f"uid={u},{user_dn}" for u in team]))
        for name, code in SUBJECTS:
            teacher = teaches.get((div, name))
            if teacher:
                groups.append(Group(f"Cours_{code}_{div}", "Groups", True, [teacher.uid, *pupils]))
    for name, _code in SUBJECTS:
        members = [f"uid={t.uid},{user_dn}" for t in by_subject.get(name, [])]
        groups.append(Group(f"Matiere_{name}", "Groups", False, members))
    admins = [f"uid={p.uid},{user_dn}" for p in people if p.kind == "admin"]
    groups.append(Group("se3_is_admin", "Rights", False, admins, "Administrateurs de SambaEdu"))
    return Directory(base_dn, school, people, groups)


def build_demo() -> tuple[Directory, str]:
    """The bundled demo school: 3 classes, 24 students, 4 teachers, a CPE and an admin."""
    rng = random.Random(2024)
    base = base_dn_for("clg-demo", "ac-exemple", "ou")
    fixed: list[tuple[Person, str | None, str | None]] = [
        (
            Person("lea.martin", "Léa", "Martin", "student", "F", "20130412", "000001"),
            "6A",
            None,
        ),
        (
            Person("marie.curie", "Marie", "Curie", "teacher", "F", "19781107", "P00001"),
            None,
            "Physique",
        ),
        (
            Person("claire.fontaine", "Claire", "Fontaine", "staff", "F", "19850321", None),
            None,
            None,
        ),
        (
            Person("admin", "Administrateur", "SE3", "admin", "M", "19700101", None),
            None,
            None,
        ),
    ]
    d = build_school(rng, base, "Collège de démonstration", 24, ["6A", "5B", "4C"], 4, 1, fixed)
    return d, "clg-demo.ac-exemple.fr"


def build_test() -> tuple[Directory, str]:
    """The hand-checked test school: the personas of tests/directory/README.md, nothing else."""
    base = base_dn_for("lycee-test", "ac-test", "dc")
    people = [
        Person("marie.curie", "Marie", "Curie", "teacher", "F", "19781107", "P10001"),
        Person("louis.pasteur", "Louis", "Pasteur", "teacher", "M", "19721227", "P10002"),
        Person("lea.martin", "Léa", "Martin", "student", "F", "20080412", "200001"),
        Person("zoe.bernard", "Zoé", "Bernard", "student", "F", "20080923", "200002"),
        Person(
            "jeanedouard.petit",
            "Jean-Édouard",
            "Petit",
            "student",
            "M",
            "20090115",
            "200003",
        ),
        Person("claire.fontaine", "Claire", "Fontaine", "staff", "F", "19850321", None),
        Person("admin", "Administrateur", "SE3", "admin", "M", "19700101", None),
        Person("anne.proviseur", "Anne", "Proviseur", "other", "F", "19690630", None),
        Person("intrus.sansgroupe", "Intrus", "Sansgroupe", "other", "M", "19900101", None),
    ]
    people_ou = f"ou=People,{base}"

    def dn(uid: str) -> str:
        return f"uid={uid},{people_ou}"

    groups = [
        Group("lcs-users", "Groups", True, [], "Groupe principal de tous les comptes"),
        Group("Eleves", "Groups", True, ["lea.martin", "zoe.bernard", "jeanedouard.petit"]),
        Group("Profs", "Groups", True, ["marie.curie", "louis.pasteur"]),
        Group("Administratifs", "Groups", True, ["claire.fontaine"]),
        Group("Classe_6A", "Groups", True, ["lea.martin", "zoe.bernard"]),
        Group("Classe_5B", "Groups", True, ["jeanedouard.petit"]),
        Group("Cours_PC_6A", "Groups", True, ["lea.martin"]),
        Group("Equipe_6A", "Groups", False, [dn("marie.curie")]),
        Group("Equipe_5B", "Groups", False, [dn("louis.pasteur")]),
        Group("Matiere_Physique", "Groups", False, [dn("marie.curie")]),
        Group("Direction", "Groups", False, [dn("anne.proviseur")], "Equipe de direction"),
        Group(
            "se3_is_admin",
            "Rights",
            False,
            [dn("admin"), f"cn=Direction,ou=Groups,{base}"],
            "Administrateurs de SambaEdu",
        ),
    ]
    return Directory(base, "Lycée de test", people, groups), "lycee-test.ac-test.fr"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=("demo", "test"), help="generate a committed directory")
    ap.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    ap.add_argument("--students", type=int, default=2500)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--teachers", type=int, default=150)
    ap.add_argument("--staff", type=int, default=5, help="school-life staff in Administratifs")
    ap.add_argument("--admins", type=int, default=1, help="accounts in se3_is_admin")
    ap.add_argument("--etab", default="lyc-bench")
    ap.add_argument("--acad", default="ac-exemple")
    ap.add_argument(
        "--dn-style",
        choices=("dc", "ou"),
        default="dc",
        help="dc=<etab>,dc=<acad> or ou=...,o=gouv,c=fr",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--password", default="secret", help="password of every account")
    ap.add_argument(
        "--no-passwords",
        action="store_true",
        help="leave userPassword out (fast, for benchmarks)",
    )
    ap.add_argument(
        "--schemes",
        default="ssha",
        help=f"comma list of hash schemes used in turn per user, from {','.join(SCHEMES)}",
    )
    ap.add_argument("--no-samba", action="store_true", help="leave out sambaSamAccount")
    args = ap.parse_args(argv)
    schemes = tuple(s.strip().lower() for s in args.schemes.split(","))
    bad = [s for s in schemes if s not in SCHEMES]
    if bad:
        ap.error(f"unknown scheme(s): {', '.join(bad)}")
    args.schemes = schemes
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    schemes: tuple[Scheme, ...] = args.schemes
    password: str | None = None if args.no_passwords else args.password
    if args.preset == "test":
        directory, domain = build_test()
        password, schemes = "secret", ("ssha", "sha", "crypt")
        header = "The test school: see tests/directory/README.md. Every password is 'secret'."
    elif args.preset == "demo":
        directory, domain = build_demo()
        password, schemes = "demo", ("ssha", "crypt", "sha")
        header = "The bundled demo school. Every password is 'demo'."
    else:
        base = base_dn_for(args.etab, args.acad, args.dn_style)
        fixed = [
            (
                Person(
                    f"admin{i or ''}",
                    "Administrateur",
                    f"SE3 {i}" if i else "SE3",
                    "admin",
                    "M",
                    "19700101",
                    None,
                ),
                None,
                None,
            )
            for i in range(args.admins)
        ]
        directory = build_school(
            rng,
            base,
            f"Etablissement {args.etab}",
            args.students,
            args.classes,
            args.teachers,
            args.staff,
            fixed,
        )
        domain = f"{args.etab}.{args.acad}.fr"
        header = (
            f"Generated school {args.etab}: {args.students} students, {args.classes} classes, {args.teachers} teachers."
        )
    header += "\nGenerated by scripts/gen_directory.py; do not edit by hand, regenerate with `make directories`."
    passwords = None
    if password is not None:
        salt_rng = random.Random(args.seed if not args.preset else 1)
        passwords = {
            p.uid: hash_password(password, schemes[i % len(schemes)], salt_rng) for i, p in enumerate(directory.people)
        }
    text = to_ldif(directory, passwords, domain, samba=not args.no_samba, header=header)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
