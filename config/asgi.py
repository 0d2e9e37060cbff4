"""ASGI entry point: HTTP through Django, the room WebSocket through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from config import daphne_seam  # noqa: E402

daphne_seam.install()  # in the daphne process: the per-connection frame limit (config/daphne_seam.py)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from classroom.routing import websocket_urlpatterns  # noqa: E402
from config.proxy import ProxyHeadersMiddleware  # noqa: E402

application = ProxyHeadersMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # the patterns are django.urls.path()s, which django-stubs types for views (classroom/routing.py)
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),  # type: ignore[arg-type]
        }
    )
)
