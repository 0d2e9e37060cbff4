"""The action layer: check_* validates, do_* changes state and emits events after commit.

HTTP views and the room WebSocket consumer only parse, authorise and call these.
"""
