"""The Trio runtime: sessions as nurseries, requests as cancel scopes, bounded outboxes."""

from .outbox import Outbox, OutboxStatistics, Outgoing, split_before_final
from .request import CancelReason, RequestHandle
from .session import Routed, Session, SessionHandler, SessionStatistics, open_session

__all__ = [
    "CancelReason",
    "Outbox",
    "OutboxStatistics",
    "Outgoing",
    "RequestHandle",
    "Routed",
    "Session",
    "SessionHandler",
    "SessionStatistics",
    "open_session",
    "split_before_final",
]
