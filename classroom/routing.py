from django.urls import path, re_path

from .consumers import NoRoomConsumer, RoomConsumer

websocket_urlpatterns = [
    # django-stubs types path() for views; channels' URLRouter routes ASGI applications with it.
    path("ws/rooms/<uuid:room_id>/", RoomConsumer.as_asgi()),  # type: ignore[arg-type]
    # Any other socket path (`/ws/rooms/not-a-uuid/`): accepted, then closed with 4404, not a 500.
    re_path(r"^", NoRoomConsumer.as_asgi()),  # type: ignore[arg-type]
]
