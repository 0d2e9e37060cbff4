"""The page a person gets while the database is down: 503, "briefly unavailable", retrying by itself.

Django's `handler500`, rather than a middleware: a database error may come from any layer (the
session saved on the way out, a template reading the user), and Django turns an exception into a
500 response at the layer that raised it, before an outer middleware could see it. Under ASGI the
handler runs in another thread with the exception gone, so it asks the database itself.
"""

from __future__ import annotations

from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.utils import translation
from django.views.defaults import server_error as default_server_error

RETRY_AFTER_SECONDS = 5


def database_answers() -> bool:
    """Whether a fresh connection to the default database works now."""
    connection = connections["default"]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False
    finally:
        # this may be a throwaway thread: leave no connection (or a broken one) behind
        connection.close()


def server_error(request: HttpRequest) -> HttpResponse:
    """A styled 503 in the person's language while the database does not answer; else the styled 500."""
    if database_answers():
        # templates/500.html, in the person's language: this thread may not have it active.
        with translation.override(translation.get_language_from_request(request)):
            response: HttpResponse = default_server_error(request)
        return response
    return unavailable(request)


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 with `Retry-After`; the page reloads itself after that many seconds (no script needed)."""
    # No request context: the context processors would ask the database for the user.
    with translation.override(translation.get_language_from_request(request)):
        body = loader.render_to_string("unavailable.html", {"retry_after": RETRY_AFTER_SECONDS})
    response = HttpResponseServerError(body)
    response.status_code = 503
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
