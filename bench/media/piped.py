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
