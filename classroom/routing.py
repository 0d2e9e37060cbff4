from django.urls import path, re_path

from .consumers import NoRoomConsumer, RoomConsumer

websocket_urlpatterns = [
    path("ws/rooms/<uuid:room_id>/", RoomConsumer.as_asgi()),
    # Any other socket path (`/ws/rooms/not-a-uuid/`): accepted, then closed with 4404, not a 500.
    re_path(r"^", NoRoomConsumer.as_asgi()),
]
