"""Run one media node: `python -m media_server --redis redis://host:6379/0`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m media_server",
        description="A Classe virtuelle media node: forwards the rooms the application places on it over Redis.",
    )
    parser.add_argument("--redis", default=env.get("REDIS_URL", ""), help="Redis URL of the bus (REDIS_URL)")
    parser.add_argument(
        "--node-id",
        default=env.get("MEDIA_NODE_ID") or None,
        help="unique name of this node (MEDIA_NODE_ID; default host-pid-random)",
    )
    parser.add_argument(
        "--public-ip",
        default=env.get("MEDIA_PUBLIC_IP") or None,
        help="address announced in ICE candidates behind a 1:1 NAT (MEDIA_PUBLIC_IP)",
    )
    parser.add_argument(
        "--turn-url", default=env.get("TURN_URL") or None, help="coturn URL(s), comma-separated (TURN_URL)"
    )
    parser.add_argument(
        "--turn-secret", default=env.get("TURN_SECRET") or None, help="coturn REST-API shared secret (TURN_SECRET)"
    )
    parser.add_argument(
        "--last-n",
        type=int,
        default=int(env.get("MEDIA_LAST_N") or 6),
        help="cameras of the most recent speakers per subscriber (MEDIA_LAST_N)",
    )
    parser.add_argument("--log-level", default=env.get("LOG_LEVEL", "INFO"), help="logging level (LOG_LEVEL)")
    args = parser.parse_args(argv)
    if not args.redis:
        parser.error("--redis or REDIS_URL is required")
    return args


async def serve(args: argparse.Namespace) -> None:
    """Run the node until SIGTERM or SIGINT, then tell browsers to reconnect and unregister."""
    from .bus import BusNode, connect
    from .node import tune_collector

    redis = connect(args.redis)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tune_collector()
    node = BusNode(
        redis,
        node_id=args.node_id,
        address=args.public_ip,
        pulse_url=args.redis,
        public_ip=args.public_ip,
        turn_url=args.turn_url,
        turn_secret=args.turn_secret,
        last_n=args.last_n,
    )
    try:
        await node.run(stop)
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
