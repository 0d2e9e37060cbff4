"""A MediaNode in a child process, driven through a multiprocessing pipe (bench scripts)."""

from __future__ import annotations

import asyncio
from typing import Any

from media_server import MediaNode


def piped_node(conn: Any) -> tuple[MediaNode, asyncio.Queue[Any]]:
    """Return a node whose messages to peers go to the pipe as (peer, message), and its inbox.

    The inbox gets whatever the parent sends on the pipe: commands and (peer, message) pairs.
    Call it inside the child's running event loop.
    """
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))

    async def send(room: str, peer: str, message: dict[str, Any]) -> None:
        conn.send((peer, message))

    return MediaNode(send), inbox


class PipedPeers:
    """The parent's side of a piped node: its messages sorted by peer, awaited by type.

    Start it inside the parent's running event loop; `close()` stops reading the pipe.
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._inboxes: dict[str, asyncio.Queue[Any]] = {}
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(conn.fileno(), self._on_message)

    def _on_message(self) -> None:
        peer, message = self.conn.recv()
        self._inboxes.setdefault(peer, asyncio.Queue()).put_nowait(message)

    async def expect(self, peer: str, type_: str | None = None, timeout: float = 60) -> Any:
        """Return the next message to `peer` (of `type_`, the others before it dropped)."""
        queue = self._inboxes.setdefault(peer, asyncio.Queue())
        async with asyncio.timeout(timeout):
            while True:
                message = await queue.get()
                if type_ is None or message.get("type") == type_:
                    return message

    def close(self) -> None:
        self._loop.remove_reader(self.conn.fileno())
