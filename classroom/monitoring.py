"""What a load balancer and Prometheus read: /healthz and /metrics.

Both views are async: they run on the server's event loop, where the channel layer and the media
bus clients of this process live (a sync view's own loop could not use them while sockets are open).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator
from typing import Any, get_args

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from config.metrics import ERROR_REPLIES, REGISTRY
from config.proxy import is_local

from . import media
from .models import Participant, Room
from .protocol import ErrorCode

CHECK_TIMEOUT = 3.0

# Every code has its series from the start, at 0, so that rate() sees its first error.
for _code in get_args(ErrorCode):
    ERROR_REPLIES.labels(code=_code)


async def healthz(request: HttpRequest) -> JsonResponse:
    """Report the database, channel layer and media forwarder states; 503 when one is down."""
    checks: dict[str, Any] = {
        "database": await sync_to_async(_check_database)(),
        "channel_layer": await _check_channel_layer(),
        "media": await media.media_health(),
    }
    healthy = all(
        value == "ok" or (isinstance(value, dict) and value.get("status") == "ok") for value in checks.values()
    )
    return JsonResponse({"status": "ok" if healthy else "down", **checks}, status=200 if healthy else 503)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"down: {exc.__class__.__name__}"
    return "ok"


async def _check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "down: not configured"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            name = await layer.new_channel()
            await layer.send(name, {"type": "healthz"})
            await layer.receive(name)
            # the pub/sub layer keeps a channel subscribed until told: one per check would pile up
            discard = getattr(layer, "discard_channel", None)
            if discard is not None:
                await discard(name)
    except Exception as exc:
        return f"down: {exc.__class__.__name__}"
    return "ok"


async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for this machine's callers or the holder of METRICS_TOKEN."""
    if not (_has_token(request) or is_local(request)):
        return HttpResponse(
            "Forbidden: /metrics answers local callers or a bearer token.\n", status=403, content_type="text/plain"
        )
    families = [*await sync_to_async(_room_families)(), *await _media_families(), *REGISTRY.collect()]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _has_token(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


class _Families(Collector):
    """Metric families computed for one scrape."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Iterator[Any]:
        return iter(self.families)


def _room_families() -> list[Any]:
    """Site-wide, from the database: the same on every web process."""
    rooms = GaugeMetricFamily("cv_rooms_live", "Rooms not ended, by kind.", labels=["kind"])
    live = dict(Room.objects.filter(ended_at__isnull=True).values_list("kind").annotate(n=Count("pk")))
    for kind in Room.Kind.values:
        rooms.add_metric([kind], live.get(kind, 0))
    participants = GaugeMetricFamily(
        "cv_participants", "People in live rooms now (an open socket), by status.", labels=["status"]
    )
    present = dict(
        Participant.objects.filter(room__ended_at__isnull=True, connections__gt=0)
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    for status in (Participant.Status.ADMITTED, Participant.Status.WAITING):
        participants.add_metric([status], present.get(status, 0))
    return [rooms, participants]


async def _media_families() -> list[Any]:
    """The media nodes (several-process mode: from their heartbeats in Redis) and their load."""
    nodes = GaugeMetricFamily("cv_media_nodes", "Media nodes alive.")
    rooms = GaugeMetricFamily("cv_media_node_rooms", "Rooms whose media a node forwards.", labels=["node"])
    peers = GaugeMetricFamily("cv_media_node_peers", "Participants connected to a node's media.", labels=["node"])
    rate = GaugeMetricFamily(
        "cv_media_node_packets_per_second", "Packets a node forwarded per second lately.", labels=["node"]
    )
    forwarded = CounterMetricFamily(
        "cv_media_forwarded_packets", "RTP packets a node forwarded since it started.", labels=["node"]
    )
    families = [nodes, rooms, peers, rate, forwarded]
    live = await media.backend().nodes()
    nodes.add_metric([], len(live))
    for node in live:
        load = node["load"]
        rooms.add_metric([node["id"]], load.get("rooms", 0))
        peers.add_metric([node["id"]], load.get("peers", 0))
        if "packets_per_s" in load:  # a node of its own measures its rate; the in-process one does not
            rate.add_metric([node["id"]], load["packets_per_s"])
        forwarded.add_metric([node["id"]], load.get("forwarded_packets", 0))
    return families
