"""Room sockets that follow the account: logging out closes them all."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from . import events


@receiver(user_logged_out, dispatch_uid="classroom.close_sockets_on_logout")
def close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Close the user's room sockets in every room and process (4401: the page goes to the login page).

    On a shared computer the next person must not inherit a room left open in another tab.
    """
    if user is not None and user.pk is not None:
        events.send_control_on_commit(events.account_group(user.pk), "logged_out")
