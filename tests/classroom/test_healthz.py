import json

from django.test import Client


def test_healthz_reports_each_component(db) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/healthz")
    body = json.loads(response.content)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["channel_layer"] == "ok"
    assert "media" in body


def test_healthz_is_503_when_the_channel_layer_is_down(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = Client().get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["status"] == "down" and body["channel_layer"].startswith("down")
