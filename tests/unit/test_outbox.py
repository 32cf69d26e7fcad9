"""The runtime's outgoing messages: typed records, so a transport never reads JSON it wrote."""

from trimcp._runtime import Outgoing, split_before_final
from trimcp.protocol.errors import INVALID_PARAMS, RemoteProtocolError


def test_a_response_that_follows_other_messages_starts_a_write_of_its_own():
    progress, other = Outgoing(b"progress"), Outgoing(b"log")
    answer = Outgoing(b"answer", final=True)
    failed = Outgoing(b"failed", final=True, error=RemoteProtocolError("x", code=INVALID_PARAMS))
    assert split_before_final([answer]) == [[answer]]
    assert split_before_final([progress, other]) == [[progress, other]]
    assert split_before_final([progress, answer]) == [[progress], [answer]]
    assert split_before_final([answer, failed, progress, answer]) == [[answer, failed, progress], [answer]]


def test_an_error_answer_carries_its_http_status():
    # -32602 is a 400 in 2026-07-28; a failing handler's -32603 travels in a 200, like a result
    assert RemoteProtocolError("x", code=INVALID_PARAMS).http_status == 400
    assert RemoteProtocolError("x", code=-32603).http_status == 200
