"""Check a password against an LDAP userPassword value ({SSHA}, {SHA}, {CRYPT}, ...)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt as _crypt

_SALTED = {"SSHA": hashlib.sha1, "SSHA256": hashlib.sha256, "SSHA512": hashlib.sha512, "SMD5": hashlib.md5}
_PLAIN = {"SHA": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512, "MD5": hashlib.md5}


def check_password(password: str, stored: str) -> bool:
    """Return whether password matches the stored userPassword value."""
    if not stored or not password:
        return False
    secret = password.encode("utf-8")
    if not stored.startswith("{"):
        return False  # cleartext passwords are refused: a directory must hash them
    scheme, _, value = stored[1:].partition("}")
    scheme = scheme.upper()
    try:
        if scheme in _SALTED:
            raw = base64.b64decode(value)
            size = _SALTED[scheme]().digest_size
            digest, salt = raw[:size], raw[size:]
            return hmac.compare_digest(_SALTED[scheme](secret + salt).digest(), digest)
        if scheme in _PLAIN:
            return hmac.compare_digest(_PLAIN[scheme](secret).digest(), base64.b64decode(value))
        if scheme == "CRYPT":
            return hmac.compare_digest(_crypt.crypt(password, value) or "", value)
    except (ValueError, TypeError):
        return False
    return False
