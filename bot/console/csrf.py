"""Cross-site request forgery defences for the console's forms.

Two independent checks, as datasette's csrf.py (after Filippo Valsorda, https://words.filippo.io/csrf/)
and the OWASP cheat sheet recommend: the browser's own Sec-Fetch-Site / Origin headers must say the
request came from this site, and the form must carry a token an attacker's page cannot read (the
session's token, or before log-in a random token also set as a SameSite=Strict cookie).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# "none": the user typed the URL or used a bookmark; not something another site can cause.
_ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})
LOGIN_COOKIE = "pufa_login_csrf"
FIELD = "csrf_token"


class CsrfRejected(Exception):
    """A state-changing request that did not come from the console's own pages."""


def check_origin(request: Request) -> None:
    """Refuse cross-site requests by the headers browsers set (and scripts cannot forge)."""
    if request.method in SAFE_METHODS:
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site not in _ALLOWED_FETCH_SITES:
            raise CsrfRejected(f"Sec-Fetch-Site is {fetch_site!r}")
        return
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a browser (or a very old one): the token check alone decides
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise CsrfRejected(f"Origin {origin!r} does not match Host {host!r}")


def check_token(expected: str | None, given: object) -> None:
    """The form's token must equal the expected one (compared in constant time)."""
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise CsrfRejected("missing or wrong form token")


def new_token() -> str:
    return secrets.token_urlsafe(32)
