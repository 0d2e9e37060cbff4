"""Who is forwarded to whom: selection, receive-side adaptation, and the tick that combines them.

No connection, slot or event loop here: the node reads its room into a RoomState and applies
what the tick returns (docs/media.md, "Scale policies" and "Weak connections").
"""

from .adaptation import Adaptation, BandwidthEstimator, LayerChoice, RetransmissionBudget
from .selection import SPEAKING_HOLD_S, SPEAKING_LEVEL, assign_slots, select_loudest, select_video, speaking_ids
from .tick import (
    NOBODY,
    Camera,
    Choice,
    Key,
    PeerState,
    RoomState,
    ViewerChoice,
    Viewing,
    camera_layers,
    choose,
    effective_quality,
    place,
    tile_layer,
    video_keys,
    video_layer,
    watched_layers,
)

__all__ = [
    "NOBODY",
    "SPEAKING_HOLD_S",
    "SPEAKING_LEVEL",
    "Adaptation",
    "BandwidthEstimator",
    "Camera",
    "Choice",
    "Key",
    "LayerChoice",
    "PeerState",
    "RetransmissionBudget",
    "RoomState",
    "ViewerChoice",
    "Viewing",
    "assign_slots",
    "camera_layers",
    "choose",
    "effective_quality",
    "place",
    "select_loudest",
    "speaking_ids",
    "select_video",
    "tile_layer",
    "video_keys",
    "video_layer",
    "watched_layers",
]
