"""The streaming multipart parser: events, however the body is chunked."""

from __future__ import annotations

import pytest

from _multipart_events import joined
from shoal.server._multipart import PART_END, MultipartEvents, PartStart, boundary_of
from shoal.server.errors import BadRequestError

BOUNDARY = b"shoal-test-boundary"


def body(*parts: tuple[bytes, bytes]) -> bytes:
    out = b""
    for headers, content in parts:
        out += b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


def parse(data: bytes, chunk: int) -> list[object]:
    parser = MultipartEvents(BOUNDARY, max_header=4096, max_headers=8)
    events: list[object] = []
    for start in range(0, len(data), chunk):
        events += parser.feed(data[start : start + chunk])
    parser.finish()
    # Content may arrive in any number of pieces.
    return joined(events)


SAMPLE = body(
    (b'Content-Disposition: form-data; name="message"', b"words\r\nwith --lines"),
    (
        'Content-Disposition: form-data; name="files"; filename="foto ünï.jpg"'.encode()
        + b"\r\nContent-Type: image/jpeg",
        bytes(range(256)) * 10,
    ),
    (b'Content-Disposition: form-data; name="files"; filename=""', b""),
)
EXPECTED = [
    PartStart("message", None, None),
    b"words\r\nwith --lines",
    PART_END,
    PartStart("files", "foto ünï.jpg", "image/jpeg"),
    bytes(range(256)) * 10,
    PART_END,
    PartStart("files", "", None),
    PART_END,
]


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 20])
def test_events_do_not_depend_on_chunking(chunk: int) -> None:
    assert parse(SAMPLE, chunk) == EXPECTED


def test_a_body_without_its_closing_boundary_is_refused() -> None:
    with pytest.raises(BadRequestError):
        parse(SAMPLE[:-30], 64)


@pytest.mark.parametrize(
    "data",
    [
        b"not multipart at all",
        body((b"Content-Disposition: form-data", b"no name")),
        body((b'Content-Disposition: attachment; name="message"', b"x")),
        body((b"X-Other: 1", b"no disposition")),
        body((b"Bad Header Name: x", b"x")),
        b"--"
        + BOUNDARY
        + b'\r\nContent-Disposition: form-data; name="message"\r\n'
        + b"X: "
        + b"a" * 5000
        + b"\r\n\r\nx\r\n--"
        + BOUNDARY
        + b"--\r\n",
    ],
)
def test_malformed_bodies_are_refused(data: bytes) -> None:
    with pytest.raises(BadRequestError):
        parse(data, 100)


def test_too_many_headers_in_a_part_are_refused() -> None:
    headers = b'Content-Disposition: form-data; name="message"' + b"\r\nX-A: 1" * 8
    with pytest.raises(BadRequestError):
        parse(body((headers, b"x")), 100)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "b" * 71,
    ],
)
def test_only_multipart_form_data_with_a_sane_boundary_is_taken(content_type: str | None) -> None:
    with pytest.raises(BadRequestError):
        boundary_of(content_type)


def test_boundary_is_read_from_the_content_type() -> None:
    assert boundary_of('multipart/form-data; boundary="abc"') == b"abc"


def test_parse_errors_reach_no_log(caplog: pytest.LogCaptureFixture) -> None:
    # python-multipart logs the offending body bytes; our parser is silenced.
    secret = b"CANARYBYTES"
    with pytest.raises(BadRequestError):
        parse(b"--" + BOUNDARY + b"X" + secret, 100)
    assert not caplog.records


def test_a_file_name_is_not_in_the_part_repr() -> None:
    assert "secret" not in repr(PartStart("files", "secret-plan.pdf", "application/pdf"))
