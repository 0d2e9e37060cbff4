"""Janus (VideoRoom plugin) for the benchmark: a config in a temp dir and a WebSocket client."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import websockets

PLUGINS = Path("/usr/lib/x86_64-linux-gnu/janus/plugins")
TRANSPORTS = Path("/usr/lib/x86_64-linux-gnu/janus/transports")
VIDEOROOM = "janus.plugin.videoroom"


def janus_binary() -> str | None:
    """Return the janus executable, if installed."""
    return shutil.which("janus")


def write_config(folder: Path, ws_port: int, event_loops: int) -> Path:
    """Write janus.jcfg and the few plugin and transport configs; return janus.jcfg."""
    other_plugins = sorted(p.name for p in PLUGINS.glob("libjanus_*.so") if p.name != "libjanus_videoroom.so")
    other_transports = sorted(p.name for p in TRANSPORTS.glob("libjanus_*.so") if p.name != "libjanus_websockets.so")
    loops = f"\tevent_loops = {event_loops}\n" if event_loops else ""
    (folder / "janus.jcfg").write_text(
        "general: {\n"
        f'\tconfigs_folder = "{folder}"\n'
        f'\tplugins_folder = "{PLUGINS}"\n'
        f'\ttransports_folder = "{TRANSPORTS}"\n'
        "\tdebug_level = 2\n"
        "\tsession_timeout = 0\n"
        f"{loops}"
        "}\n"
        'media: {\n\trtp_port_range = "30000-39999"\n}\n'
        # only the namespace's own address: traffic never leaves 10.99.0.0/24
        'nat: {\n\tice_enforce_list = "10.99.0.1"\n\tnice_debug = false\n}\n'
        f'plugins: {{\n\tdisable = "{",".join(other_plugins)}"\n}}\n'
        f'transports: {{\n\tdisable = "{",".join(other_transports)}"\n}}\n'
        "events: {\n\tbroadcast = false\n}\n"
    )
    (folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    (folder / "janus.transport.websockets.jcfg").write_text(
        'general: {\n\tjson = "compact"\n\tws = true\n'
        f'\tws_port = {ws_port}\n\tws_ip = "127.0.0.1"\n\twss = false\n}}\n'
        "admin: {\n\tadmin_ws = false\n}\n"
    )
    return folder / "janus.jcfg"


class JanusError(Exception):
    """Janus or the VideoRoom plugin refused a request."""


class Janus:
    """A Janus session over one WebSocket: requests by transaction, events by handle."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self.session = 0

    async def connect(self, timeout: float = 10) -> None:
        """Open the socket (retrying while Janus starts) and create a session."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    self.ws = await websockets.connect(
                        self.url,
                        subprotocols=["janus-protocol"],
                        max_size=None,  # type: ignore[list-item]
                    )
                    break
                except OSError:
                    await asyncio.sleep(0.1)
        self._reader = asyncio.ensure_future(self._read())
        reply = await self.request({"janus": "create"})
        self.session = reply["data"]["id"]

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            transaction = message.get("transaction")
            if message.get("janus") == "ack":
                continue
            future = self._pending.pop(transaction, None) if transaction else None
            if future is not None and not future.done():
                future.set_result(message)
            elif "sender" in message:
                self._events.setdefault(message["sender"], asyncio.Queue()).put_nowait(message)

    async def request(self, body: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
        """Send a request and return Janus's reply (a plugin's async event for messages)."""
        transaction = str(next(self._ids))
        body = dict(body, transaction=transaction)
        if self.session:
            body["session_id"] = self.session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = future
        await self.ws.send(json.dumps(body))
        reply = await asyncio.wait_for(future, timeout)
        if reply.get("janus") == "error":
            raise JanusError(reply["error"]["reason"])
        data = reply.get("plugindata", {}).get("data", {})
        if data.get("error"):
            raise JanusError(data["error"])
        return reply

    async def attach(self) -> int:
        """Attach a VideoRoom handle."""
        reply = await self.request({"janus": "attach", "plugin": VIDEOROOM})
        handle: int = reply["data"]["id"]
        self._events.setdefault(handle, asyncio.Queue())
        return handle

    async def message(self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a plugin message and return its reply (synchronous or the async event)."""
        request: dict[str, Any] = {"janus": "message", "handle_id": handle, "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        return await self.request(request)

    async def create_room(self, room: int, publishers: int) -> None:
        """Create a VP8/Opus room with no bitrate cap."""
        handle = await self.attach()
        await self.message(
            handle,
            {
                "request": "create",
                "room": room,
                "publishers": publishers,
                "bitrate": 0,
                "fir_freq": 0,
                "audiocodec": "opus",
                "videocodec": "vp8",
                "notify_joining": False,
                "audiolevel_ext": True,
                "videoorient_ext": False,
                "playoutdelay_ext": False,
                "transport_wide_cc_ext": False,
            },
        )

    async def publish(self, room: int, feed: int, offer_sdp: str) -> str:
        """Join as a publisher and publish an offer; return Janus's answer."""
        handle = await self.attach()
        await self.message(handle, {"request": "join", "ptype": "publisher", "room": room, "id": feed})
        reply = await self.message(handle, {"request": "publish"}, {"type": "offer", "sdp": offer_sdp})
        answer: str = reply["jsep"]["sdp"]
        return answer

    async def subscribe(self, room: int, streams: list[dict[str, Any]]) -> tuple[int, str]:
        """Join as a subscriber of these (feed, mid) streams; return the handle and the offer."""
        handle = await self.attach()
        reply = await self.message(handle, {"request": "join", "ptype": "subscriber", "room": room, "streams": streams})
        offer: str = reply["jsep"]["sdp"]
        return handle, offer

    async def start(self, handle: int, answer_sdp: str) -> None:
        """Answer a subscriber offer."""
        await self.message(handle, {"request": "start"}, {"type": "answer", "sdp": answer_sdp})

    async def close(self) -> None:
        """Close the socket."""
        self._reader.cancel()
        await self.ws.close()
