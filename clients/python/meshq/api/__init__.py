"""meshq's Python SDK, under the names the reference's code imports from ``meshagent.api``.

``WebSocketClientProtocol`` keeps the reference's name for meshq's gRPC transport, so code
written for the reference runs after replacing ``meshagent`` with ``meshq`` in its imports.
"""

from meshq.api.client import MeshqClient
from meshq.api.protocol import GrpcClientProtocol, WebSocketClientProtocol
from meshq.api.rooms import RoomClient, RoomsClient
from meshq.api.tokens import ApiScope, ParticipantGrant, ParticipantToken

__all__ = [
    "ApiScope",
    "GrpcClientProtocol",
    "MeshqClient",
    "ParticipantGrant",
    "ParticipantToken",
    "RoomClient",
    "RoomsClient",
    "WebSocketClientProtocol",
]
