from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from . import ratelimit
from .forms import SchoolLoginForm


class LoginView(auth_views.LoginView):
    form_class = SchoolLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        ratelimit.issue_device_cookie(response, form.cleaned_data["username"])
        return response


_login = LoginView.as_view()


def _delay(request: HttpRequest) -> float:
    username = request.POST.get("username") or ""
    return ratelimit.delay(ratelimit.Attempt.of(request, username)) if username.strip() else 0.0


async def login(request: HttpRequest) -> HttpResponseBase:
    """The login form; a post for a username or from an address that keeps failing waits first.

    The wait is asynchronous: a slowed attacker holds no worker thread, and nobody else waits.
    """
    if request.method == "POST":
        seconds = await sync_to_async(_delay)(request)
        if seconds:
            await asyncio.sleep(seconds)
    response: HttpResponseBase = await sync_to_async(_login)(request)
    return response
