"""Unit tests for the SSE encoder and incremental decoder (trimcp.protocol.sse)."""

import pytest

from trimcp.protocol.errors import RemoteProtocolError
from trimcp.protocol.sse import ServerSentEvent, SSEDecoder, encode_comment, encode_event

BOM = b"\xef\xbb\xbf"


def decode_all(*chunks: bytes, **kwargs) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder(**kwargs)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events, decoder


# -- encoder ---------------------------------------------------------------------------------------


def test_encode_plain_data():
    assert encode_event("hello") == b"data: hello\n\n"


def test_encode_bytes_data():
    assert encode_event(b'{"a":1}') == b'data: {"a":1}\n\n'


def test_encode_all_fields_in_order():
    assert encode_event("x", event="message", id="7", retry=1500) == b"id: 7\nevent: message\nretry: 1500\ndata: x\n\n"


def test_encode_multiline_data_becomes_several_data_lines():
    assert encode_event("a\nb\nc") == b"data: a\ndata: b\ndata: c\n\n"


def test_encode_multiline_data_with_cr_and_crlf():
    assert encode_event("a\r\nb\rc") == b"data: a\ndata: b\ndata: c\n\n"


def test_encode_trailing_newline_keeps_an_empty_data_line():
    assert encode_event("a\n") == b"data: a\ndata: \n\n"


def test_encode_priming_event():
    assert encode_event("", id="x") == b"id: x\ndata: \n\n"
    assert encode_event(id="x") == b"id: x\ndata: \n\n"


def test_encode_non_ascii():
    assert encode_event("café", id="é") == "id: é\ndata: café\n\n".encode()


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\n", "\n"])
def test_encode_rejects_newline_in_id(bad):
    with pytest.raises(ValueError):
        encode_event("x", id=bad)


def test_encode_rejects_nul_in_id():
    with pytest.raises(ValueError):
        encode_event("x", id="a\0b")


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "\r\n"])
def test_encode_rejects_newline_in_event_name(bad):
    with pytest.raises(ValueError):
        encode_event("x", event=bad)


def test_encode_comment():
    assert encode_comment("ping") == b": ping\n\n"
    assert encode_comment() == b": \n\n"
    assert encode_comment("a\nb\rc") == b": a b c\n\n"


def test_comment_is_ignored_by_decoder():
    events, _ = decode_all(encode_comment("keep-alive") + encode_event("x"))
    assert events == [ServerSentEvent("x")]


@pytest.mark.parametrize(
    "data", ["", "plain", "two\nlines", "trailing\n", "\nleading", "a\r\nb\rc", "  spaced  ", "ünï\ncödé 😀", ":colon"]
)
def test_encode_decode_round_trip(data):
    events, decoder = decode_all(encode_event(data, event="e", id="i", retry=10))
    normalised = data.replace("\r\n", "\n").replace("\r", "\n")
    assert events == [ServerSentEvent(normalised, "e", "i", 10)]
    assert decoder.last_event_id == "i"
    assert decoder.retry == 10


# -- decoder: line endings and framing ---------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_line_endings(eol):
    stream = b"event: e" + eol + b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    events, _ = decode_all(stream)
    assert events == [ServerSentEvent("a\nb", "e"), ServerSentEvent("c")]


def test_mixed_line_endings():
    events, _ = decode_all(b"data: a\r\ndata: b\rdata: c\n\r\n" + b"data: d\r\r")
    assert events == [ServerSentEvent("a\nb\nc"), ServerSentEvent("d")]


def test_crlf_split_across_feeds_counts_once():
    # If the LF after a chunk-final CR were taken as a second line end, the event would be
    # dispatched early and "b" would become a separate event.
    events, _ = decode_all(b"data: a\r", b"\ndata: b\r\n\r\n")
    assert events == [ServerSentEvent("a\nb")]


def test_crlf_split_with_lone_lf_chunk():
    events, _ = decode_all(b"data: a\r", b"\n", b"data: b\r", b"\n", b"\r", b"\n")
    assert events == [ServerSentEvent("a\nb")]


def test_cr_then_cr_across_feeds_is_two_line_ends():
    events, _ = decode_all(b"data: a\r", b"\r")
    assert events == [ServerSentEvent("a")]


def test_event_is_not_dispatched_without_blank_line():
    events, decoder = decode_all(b"data: a\n")
    assert events == []
    assert decoder.feed(b"\n") == [ServerSentEvent("a")]


def test_several_events_in_one_chunk():
    events, _ = decode_all(b"data: 1\n\ndata: 2\n\ndata: 3\n\n")
    assert [e.data for e in events] == ["1", "2", "3"]


def test_feed_empty_chunk():
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent("x")]


# -- decoder: BOM -------------------------------------------------------------------------------------


def test_leading_bom_is_dropped():
    events, _ = decode_all(BOM + b"data: x\n\n")
    assert events == [ServerSentEvent("x")]


def test_leading_bom_before_field_name_does_not_corrupt_it():
    events, _ = decode_all(BOM + b"event: e\ndata: x\n\n")
    assert events == [ServerSentEvent("x", "e")]


@pytest.mark.parametrize("split", [1, 2, 3])
def test_leading_bom_split_across_feeds(split):
    stream = BOM + b"event: e\ndata: x\n\n"
    events, _ = decode_all(stream[:split], stream[split:])
    assert events == [ServerSentEvent("x", "e")]


def test_bom_fed_one_byte_at_a_time():
    stream = BOM + b"data: x\n\n"
    events, _ = decode_all(*(stream[i : i + 1] for i in range(len(stream))))
    assert events == [ServerSentEvent("x")]


def test_only_the_first_bom_is_dropped():
    events, _ = decode_all(BOM + b"data: a\n\n" + BOM + b"data: b\n\n")
    # A second BOM is part of the field name "\ufeffdata", an unknown field.
    assert events == [ServerSentEvent("a")]


def test_short_non_bom_prefix_is_not_held_back():
    events, _ = decode_all(b"d", b"ata: x\n\n")
    assert events == [ServerSentEvent("x")]


# -- decoder: fields ----------------------------------------------------------------------------------


def test_comments_ignored():
    events, decoder = decode_all(b": comment\n:\n: id: 5\ndata: x\n: data: y\n\n")
    assert events == [ServerSentEvent("x")]
    assert decoder.last_event_id is None


def test_data_without_space_after_colon():
    events, _ = decode_all(b"data:x\n\n")
    assert events == [ServerSentEvent("x")]


def test_only_one_leading_space_is_removed():
    events, _ = decode_all(b"data:  x \n\n")
    assert events == [ServerSentEvent(" x ")]


def test_field_with_no_colon_has_empty_value():
    events, _ = decode_all(b"data\ndata\n\n")
    assert events == [ServerSentEvent("\n")]


def test_value_may_contain_colons():
    events, _ = decode_all(b'data: {"a": "b:c"}\n\n')
    assert events == [ServerSentEvent('{"a": "b:c"}')]


def test_multiline_data_joined_with_lf():
    events, _ = decode_all(b"data: a\ndata: \ndata: b\n\n")
    assert events == [ServerSentEvent("a\n\nb")]


def test_event_name():
    events, _ = decode_all(b"event: update\ndata: x\n\ndata: y\n\n")
    assert events == [ServerSentEvent("x", "update"), ServerSentEvent("y", "message")]


def test_empty_event_name_means_message():
    events, _ = decode_all(b"event:\ndata: x\n\n")
    assert events == [ServerSentEvent("x", "message")]


def test_unknown_fields_ignored():
    events, _ = decode_all(b"foo: bar\nDATA: no\ndata : no\ndata: yes\n\n")
    assert events == [ServerSentEvent("yes")]


def test_id_persists_to_later_events():
    events, decoder = decode_all(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1"), ("c", "2")]
    assert decoder.last_event_id == "2"


def test_id_can_be_reset_to_empty():
    events, decoder = decode_all(b"id: 1\ndata: a\n\nid\ndata: b\n\n")
    assert [e.id for e in events] == ["1", ""]
    assert decoder.last_event_id == ""


def test_id_containing_nul_is_ignored():
    events, decoder = decode_all(b"id: good\ndata: a\n\nid: ba\x00d\ndata: b\n\n")
    assert [e.id for e in events] == ["good", "good"]
    assert decoder.last_event_id == "good"


def test_retry_all_digits():
    events, decoder = decode_all(b"retry: 2500\ndata: x\n\n")
    assert decoder.retry == 2500
    assert events == [ServerSentEvent("x", retry=2500)]


@pytest.mark.parametrize("bad", [b"", b"12x", b"-5", b"1.5", b" 10", b"\xd9\xa3"])  # last: ARABIC-INDIC DIGIT THREE
def test_retry_ignored_unless_all_ascii_digits(bad):
    _, decoder = decode_all(b"retry: 100\n\nretry: " + bad + b"\n\n")
    assert decoder.retry == 100


def test_event_without_data_is_not_dispatched_but_id_updates():
    events, decoder = decode_all(b"id: 9\nevent: e\n\n")
    assert events == []
    assert decoder.last_event_id == "9"
    # The event name is reset by the blank line even though nothing was dispatched.
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent("x", "message", "9")]


def test_priming_event_is_dispatched_with_empty_data():
    events, decoder = decode_all(encode_event("", id="evt-0"))
    assert events == [ServerSentEvent("", "message", "evt-0")]
    assert decoder.last_event_id == "evt-0"


def test_utf8_multibyte_split_across_feeds():
    stream = "data: é€😀\n\n".encode()
    for split in range(len(stream) + 1):
        events, _ = decode_all(stream[:split], stream[split:])
        assert events == [ServerSentEvent("é€😀")], split


def test_invalid_utf8_is_replaced_not_fatal():
    events, _ = decode_all(b"data: a\xffb\n\n")
    assert events == [ServerSentEvent("a\ufffdb")]


# -- decoder: size limit -----------------------------------------------------------------------------


def test_max_event_size_unterminated_line():
    decoder = SSEDecoder(max_event_size=100)
    decoder.feed(b"data: " + b"x" * 50)
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"x" * 60)


def test_max_event_size_many_data_lines():
    decoder = SSEDecoder(max_event_size=100)
    with pytest.raises(RemoteProtocolError):
        for _ in range(20):
            decoder.feed(b"data: " + b"y" * 10 + b"\n")


def test_max_event_size_single_chunk_with_big_event():
    decoder = SSEDecoder(max_event_size=100)
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"data: " + b"z" * 200 + b"\n\n")


def test_within_max_event_size_is_fine_and_limit_is_per_event():
    decoder = SSEDecoder(max_event_size=100)
    for _ in range(50):
        assert decoder.feed(b"data: " + b"a" * 40 + b"\n\n") == [ServerSentEvent("a" * 40)]


# -- property: chunking never changes the result ------------------------------------------------------

STREAM = b"".join(
    [
        BOM,
        b"retry: 3000\r\n",  # a real field first, so a mishandled BOM would corrupt its name
        b": welcome\r\n",
        b"id: prime-0\r\n",
        b"data: \r\n",
        b"\r\n",  # 1: priming event
        b"event: notice\n",
        b"data:first line\n",
        b"data:  two spaces\n",
        b"data\n",
        b"id: 42\n",
        b"\n",  # 2
        b"id: 43\r",
        b"retry: 12x\r",
        b"event: dropped\r",
        b"\r",  # no data: not dispatched, but the id sticks
        "data: café € 😀\r".encode(),
        b"id: bad\x00id\r",
        b": keep-alive\r",
        b"unknown: field\r",
        b"\r",  # 3
        b"event: progress\r\n",
        b"retry: 500\n",
        b'data: {"a":1}\r',
        b"data: \r\n",
        b"id\n",
        b"\r\n",  # 4
        b"data: a\r\r",  # 5: CR CR is two line ends
        b"\n",  # a lone LF after CR CR: an empty line, nothing to dispatch
        b"data: after\n\n",  # 6
        b"data: never dispatched",
    ]
)

EXPECTED = [
    ServerSentEvent("", "message", "prime-0", 3000),
    ServerSentEvent("first line\n two spaces\n", "notice", "42", 3000),
    ServerSentEvent("café € 😀", "message", "43", 3000),
    ServerSentEvent('{"a":1}\n', "progress", "", 500),
    ServerSentEvent("a", "message", "", 500),
    ServerSentEvent("after", "message", "", 500),
]


def _state(decoder: SSEDecoder):
    return decoder.last_event_id, decoder.retry


def test_realistic_stream_one_shot():
    events, decoder = decode_all(STREAM)
    assert events == EXPECTED
    assert _state(decoder) == ("", 500)


def test_realistic_stream_split_at_every_byte_boundary():
    reference, ref_decoder = decode_all(STREAM)
    for split in range(len(STREAM) + 1):
        events, decoder = decode_all(STREAM[:split], STREAM[split:])
        assert events == reference, f"split at byte {split}"
        assert _state(decoder) == _state(ref_decoder), f"split at byte {split}"


def test_realistic_stream_one_byte_at_a_time():
    events, decoder = decode_all(*(STREAM[i : i + 1] for i in range(len(STREAM))))
    assert events == EXPECTED
    assert _state(decoder) == ("", 500)


def test_realistic_stream_split_at_every_pair_of_boundaries():
    reference, _ = decode_all(STREAM)
    n = len(STREAM)
    for i in range(n + 1):
        if i > 12 and i % 7:
            continue  # every boundary inside the BOM and the first line, then every 7th
        for j in range(i, n + 1):
            events, _ = decode_all(STREAM[:i], STREAM[i:j], STREAM[j:])
            assert events == reference, f"split at bytes {i} and {j}"


def test_realistic_stream_without_bom_split_everywhere():
    stream = STREAM[len(BOM) :]
    for split in range(len(stream) + 1):
        events, _ = decode_all(stream[:split], stream[split:])
        assert events == EXPECTED, f"split at byte {split}"


def test_a_retry_of_thousands_of_digits_is_ignored_not_a_crash():
    # int() refuses more than 4,300 digits (found by fuzzing)
    events, decoder = decode_all(b"retry: " + b"9" * 5000 + b"\ndata: x\n\n")
    assert [event.data for event in events] == ["x"] and decoder.retry is None
