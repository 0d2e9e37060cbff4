from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from config.metrics import LOGIN_FAILURES, LOGIN_LOCKED

from . import ratelimit
from .backends import NO_ROLE, UNAVAILABLE


class SchoolLoginForm(AuthenticationForm):
    """Django's login form, telling why a directory login failed."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Wrong username or password. Use your school account (the one for the school computers)."),
        "no_role": _(
            "Your account exists in the school directory but belongs to no student, teacher or staff group:"
            " ask the school's administrator to add you."
        ),
        "unavailable": _("The school directory is unavailable right now. Try again in a few minutes."),
        "locked": _("Too many failed attempts. Wait %(minutes)d minutes, then try again."),
    }

    def clean(self) -> dict[str, Any]:
        username = (self.cleaned_data.get("username") or "").strip()
        password = self.cleaned_data.get("password")
        if username and password:
            if self.request is None:
                raise TypeError("SchoolLoginForm needs the request: its limits are per address and device")
            attempt = ratelimit.Attempt.of(self.request, username)
            if not ratelimit.begin(attempt):
                LOGIN_LOCKED.inc()
                raise forms.ValidationError(
                    self.error_messages["locked"],
                    code="locked",
                    params={"minutes": max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)},
                )
            self.user_cache = authenticate(self.request, username=username, password=password)
            reason = getattr(self.request, "directory_error", None)
            if self.user_cache is None:
                if reason == UNAVAILABLE:
                    ratelimit.not_checked(attempt)
                    raise forms.ValidationError(self.error_messages["unavailable"], code="unavailable")
                ratelimit.failed(attempt)
                LOGIN_FAILURES.labels(reason="no_role" if reason == NO_ROLE else "invalid").inc()
                if reason == NO_ROLE:
                    raise forms.ValidationError(self.error_messages["no_role"], code="no_role")
                raise self.get_invalid_login_error()
            ratelimit.succeeded(attempt)
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
