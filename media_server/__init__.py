"""Classe virtuelle's selective forwarding unit: RTP in, rewritten RTP out, no codec.

Imports nothing of Django: the application drives it through MediaNode with plain dicts.
"""

from .node import MediaNode, SendCallback, SourcesCallback, tune_collector
from .protocol import MediaError

__all__ = ["MediaError", "MediaNode", "SendCallback", "SourcesCallback", "tune_collector"]
