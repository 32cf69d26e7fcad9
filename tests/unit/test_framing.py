"""Unit tests for newline framing with a size bound (trimcp.protocol.framing.LineBuffer)."""

import pytest

from trimcp.protocol.framing import LineBuffer, OversizedLine


def feed_all(buffer: LineBuffer, *chunks: bytes) -> list:
    out = []
    for chunk in chunks:
        out.extend(buffer.feed(chunk))
    return out


def test_one_line_in_one_chunk():
    assert feed_all(LineBuffer(100), b'{"a":1}\n') == [b'{"a":1}']


def test_several_lines_in_one_chunk():
    assert feed_all(LineBuffer(100), b"one\ntwo\nthree\n") == [b"one", b"two", b"three"]


def test_line_split_across_chunks():
    lb = LineBuffer(100)
    assert feed_all(lb, b'{"json', b'rpc":', b'"2.0"}') == []
    assert lb.pending == len(b'{"jsonrpc":"2.0"}')
    assert feed_all(lb, b"\nnext") == [b'{"jsonrpc":"2.0"}']
    assert lb.pending == 4
    assert feed_all(lb, b"\n") == [b"next"]
    assert lb.pending == 0


def test_every_split_point_gives_same_lines():
    stream = b"alpha\nbeta\n\ngamma delta\n  \nepsilon\n"
    expected = [b"alpha", b"beta", b"gamma delta", b"epsilon"]
    for split in range(len(stream) + 1):
        lb = LineBuffer(100)
        assert feed_all(lb, stream[:split], stream[split:]) == expected, split
        assert lb.flush() is None


def test_one_byte_at_a_time():
    stream = b"abc\n\nde\nf\n"
    lb = LineBuffer(100)
    assert feed_all(lb, *(stream[i : i + 1] for i in range(len(stream)))) == [b"abc", b"de", b"f"]


@pytest.mark.parametrize("blank", [b"\n", b"\n\n\n", b"   \n", b"\t \r\n"])
def test_blank_lines_are_dropped(blank):
    assert feed_all(LineBuffer(100), b"a\n" + blank + b"b\n") == [b"a", b"b"]


def test_crlf_line_keeps_its_content():
    # The stdio transport only splits on LF; a trailing CR is JSON whitespace.
    (line,) = feed_all(LineBuffer(100), b'{"a":1}\r\n')
    assert line.rstrip(b"\r") == b'{"a":1}'


def test_feed_empty_chunk_then_lines():
    lb = LineBuffer(100)
    assert list(lb.feed(b"")) == []
    assert list(lb.feed(b"x\ny\n")) == [b"x", b"y"]


# -- size limit ---------------------------------------------------------------------------------------


def test_line_of_exactly_max_line_is_allowed():
    assert feed_all(LineBuffer(5), b"12345\n") == [b"12345"]
    assert feed_all(LineBuffer(5), b"123", b"45", b"\n") == [b"12345"]


def test_oversized_line_in_one_chunk():
    assert feed_all(LineBuffer(5), b"1234567890\n") == [OversizedLine(10)]


def test_oversized_line_one_past_limit():
    assert feed_all(LineBuffer(5), b"123456\n") == [OversizedLine(6)]
    assert feed_all(LineBuffer(5), b"123", b"456\n") == [OversizedLine(6)]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 4, 5, 6, 7, 11, 64])
def test_oversized_line_in_many_chunks_is_reported_once_with_correct_size(chunk_size):
    max_line = 8
    big = b"x" * 50
    stream = b"ok\n" + big + b"\nafter\n"
    lb = LineBuffer(max_line)
    out = []
    for i in range(0, len(stream), chunk_size):
        out.extend(lb.feed(stream[i : i + chunk_size]))
        assert len(lb._buffer) <= max_line
    assert out == [b"ok", OversizedLine(50), b"after"]
    assert lb.pending == 0


def test_oversized_line_split_at_every_point():
    stream = b"first\n" + b"y" * 30 + b"\nlast\n"
    for split in range(len(stream) + 1):
        lb = LineBuffer(10)
        assert feed_all(lb, stream[:split], stream[split:]) == [b"first", OversizedLine(30), b"last"], split


def test_buffer_never_grows_beyond_max_line():
    max_line = 16
    lb = LineBuffer(max_line)
    for _ in range(1000):
        list(lb.feed(b"z" * 7))
        # The bytes actually held stay bounded; ``pending`` counts skipped bytes too.
        assert len(lb._buffer) <= max_line
    assert lb.pending == 7000
    assert feed_all(lb, b"\n") == [OversizedLine(7000)]
    assert lb.pending == 0


def test_pending_never_exceeds_max_line_while_lines_fit():
    max_line = 10
    lb = LineBuffer(max_line)
    stream = b"0123456789\n012\n0123456789\n"
    for i in range(len(stream)):
        list(lb.feed(stream[i : i + 1]))
        assert lb.pending <= max_line


def test_normal_lines_after_oversized_one_still_work():
    lb = LineBuffer(4)
    assert feed_all(lb, b"toolong\nabc\n", b"wayyyy too long", b"\nd\n") == [
        OversizedLine(7),
        b"abc",
        OversizedLine(15),
        b"d",
    ]


def test_oversized_line_started_in_buffered_prefix():
    lb = LineBuffer(6)
    # The first chunk fits and is buffered; the second pushes it over without a newline.
    assert feed_all(lb, b"abcde") == []
    assert lb.pending == 5
    assert feed_all(lb, b"fgh") == []
    assert len(lb._buffer) == 0
    assert feed_all(lb, b"ij\nk\n") == [OversizedLine(10), b"k"]


def test_two_oversized_lines_back_to_back():
    assert feed_all(LineBuffer(3), b"aaaa\nbbbbb\n") == [OversizedLine(4), OversizedLine(5)]


# -- flush --------------------------------------------------------------------------------------------


def test_flush_returns_unterminated_last_line():
    lb = LineBuffer(100)
    assert feed_all(lb, b"a\nlast") == [b"a"]
    assert lb.flush() == b"last"
    assert lb.pending == 0
    assert lb.flush() is None


def test_flush_with_nothing_pending():
    lb = LineBuffer(100)
    assert lb.flush() is None
    feed_all(lb, b"a\n")
    assert lb.flush() is None


def test_flush_drops_blank_tail():
    lb = LineBuffer(100)
    feed_all(lb, b"a\n   ")
    assert lb.flush() is None


def test_flush_reports_oversized_unterminated_line():
    lb = LineBuffer(4)
    feed_all(lb, b"ok\n123", b"4567")
    assert lb.flush() == OversizedLine(7)
    assert lb.pending == 0
    assert lb.flush() is None


def test_usable_after_flush():
    lb = LineBuffer(100)
    feed_all(lb, b"partial")
    assert lb.flush() == b"partial"
    assert feed_all(lb, b"fresh\n") == [b"fresh"]
