"""The Trio runtime: a dispatcher (a nursery) per connection, requests as cancel scopes, bounded outboxes."""

from .dispatcher import Dispatcher, DispatcherStatistics, Routed, Router, open_dispatcher
from .host import Host
from .outbox import Outbox, OutboxStatistics, Outgoing, split_before_final
from .request import NOBODY, Caller, CancelReason, RequestHandle

__all__ = [
    "NOBODY",
    "Caller",
    "CancelReason",
    "Dispatcher",
    "DispatcherStatistics",
    "Host",
    "Outbox",
    "OutboxStatistics",
    "Outgoing",
    "RequestHandle",
    "Routed",
    "Router",
    "open_dispatcher",
    "split_before_final",
]
