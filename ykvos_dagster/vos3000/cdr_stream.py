"""Streaming GetCdr replies to disk without parsing their records in Python.

A GetCdr reply is one JSON object, `{"retCode":0,"infoCdrs":[...]}`, optionally wrapped in a
one-element array, and it can be hundreds of megabytes. `CdrSpool` collects the `infoCdrs` arrays of
many replies into one JSON array file that ClickHouse reads with the `JSONAsString` format.
`ReplyScanner` takes a reply chunk by chunk and copies the bytes of its `infoCdrs` array into the
spool. It parses only the envelope: the members before the array (up to `HEAD_LIMIT` bytes) and the
members after it (up to `TAIL_SIZE` bytes), so its memory stays bounded whatever the reply size.
The records themselves are checked by ClickHouse when the spool is loaded.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Protocol

# Envelope members before `infoCdrs` (retCode, exception) are small. A reply whose first
# HEAD_LIMIT bytes do not reach the array is not a GetCdr reply that this module can stream.
HEAD_LIMIT = 1024 * 1024
# Bytes kept back from the spool until the reply ends, so that the end of the array and the members
# after it can be found and parsed.
TAIL_SIZE = 64 * 1024
# Array bytes collected before they are written to the spool in one call, unless a single chunk
# brings more.
_FLUSH_SIZE = 1024 * 1024

_WHITESPACE = b" \t\r\n"
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class ReplyFormatError(ValueError):
    """A reply that is not a JSON object with an `infoCdrs` array this module can stream."""


class NeedMoreData(Exception):
    """The head of the reply ends before the parser could decide."""


@dataclass(frozen=True)
class SpoolMark:
    offset: int
    has_records: bool


class RecordSpool(Protocol):
    """Interface of the spools that `ReplyScanner` and `VosClient.stream_cdrs` write to:
    `CdrSpool` here, or `cdr_native.NativeSpool`."""

    def write_records(self, data: bytes | memoryview, first_of_reply: bool) -> None: ...

    def end_reply(self) -> None: ...

    def mark(self) -> SpoolMark: ...

    def rollback(self, mark: SpoolMark) -> None: ...


class CdrSpool:
    """A JSON array of InfoCdr records gathered from GetCdr replies, written to `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = path.open("wb")
        self._file.write(b"[")
        self.has_records = False
        self.bytes_written = 1

    @classmethod
    def resume(cls, path: Path, mark: SpoolMark) -> CdrSpool:
        """Reopen a spool that an earlier attempt left open, keeping what it wrote up to `mark`."""
        spool = cls.__new__(cls)
        spool.path = path
        spool._file = path.open("r+b")
        spool._file.seek(mark.offset)
        spool._file.truncate()
        spool.has_records = mark.has_records
        spool.bytes_written = mark.offset
        return spool

    def mark(self) -> SpoolMark:
        return SpoolMark(self._file.tell(), self.has_records)

    def flush(self) -> None:
        """Write what is buffered to the file, so that a recorded mark survives a crash."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def rollback(self, mark: SpoolMark) -> None:
        """Drop what a failed reply wrote after `mark`."""
        self._file.seek(mark.offset)
        self._file.truncate()
        self.has_records = mark.has_records
        self.bytes_written = mark.offset

    def write_records(self, data: bytes | memoryview, first_of_reply: bool) -> None:
        """Append array content (records and the commas between them) of one reply."""
        if not len(data):
            return
        if first_of_reply and self.has_records:
            self._file.write(b",")
            self.bytes_written += 1
        self._file.write(data)
        self.bytes_written += len(data)
        self.has_records = True

    def end_reply(self) -> None:
        """Mark the end of a reply's records; the JSON spool checks nothing here."""

    def close(self) -> None:
        """Close the array and the file."""
        if not self._file.closed:
            self._file.write(b"]")
            self._file.close()


class ReplyScanner:
    """Scanner that copies the `infoCdrs` array of one GetCdr reply into a spool as it arrives.

    Call `feed` with each chunk and `finish` at the end. `finish` returns the envelope members
    other than `infoCdrs`, or raises ReplyFormatError. A reply that ends before its `infoCdrs`
    array starts (an error reply without the key, or a small non-JSON body) is kept whole in
    memory, up to HEAD_LIMIT bytes, and returned by `small_body` for the caller to parse.
    """

    def __init__(self, spool: RecordSpool) -> None:
        self._spool = spool
        self._head = bytearray()
        # The latest chunks of the array, at least TAIL_SIZE bytes once enough arrived; older
        # chunks go to the spool as they are, without copying.
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._in_array = False
        self._wrapped = False
        self._members: dict[str, Any] = {}
        self._wrote_records = False
        self.small_body: bytes | None = None
        self.bytes_received = 0

    def feed(self, chunk: bytes) -> None:
        self.bytes_received += len(chunk)
        if self._in_array:
            self._push(chunk)
            return
        self._head += chunk
        try:
            start = self._parse_head()
        except NeedMoreData:
            if len(self._head) > HEAD_LIMIT:
                raise ReplyFormatError(
                    f"the first {HEAD_LIMIT} bytes of the reply contain no infoCdrs array"
                ) from None
            return
        self._in_array = True
        self._push(bytes(self._head[start:]))
        self._head = bytearray()

    def finish(self) -> dict[str, Any] | None:
        """Return the envelope members other than `infoCdrs`, or None when the reply never
        reached an `infoCdrs` array (then `small_body` contains the whole reply)."""
        if not self._in_array:
            self.small_body = bytes(self._head)
            return None
        tail = b"".join(self._tail)
        if len(tail) > TAIL_SIZE:
            self._write(tail[:-TAIL_SIZE])
            tail = tail[-TAIL_SIZE:]
        for end in _candidates(tail):
            members = self._trailing_members(tail[end + 1 :])
            if members is not None:
                self._spool.write_records(tail[:end].strip(_WHITESPACE), not self._wrote_records)
                self._spool.end_reply()
                self._members.update(members)
                return self._members
        raise ReplyFormatError(
            f"the infoCdrs array is not followed by the end of the reply object within the last "
            f"{TAIL_SIZE} bytes (reply truncated or not JSON)"
        )

    def _push(self, chunk: bytes) -> None:
        """Keep `chunk` in the tail and write the chunks that the tail no longer needs."""
        if not chunk:
            return
        self._tail.append(chunk)
        self._tail_size += len(chunk)
        if self._tail_size < TAIL_SIZE + _FLUSH_SIZE:
            return
        ready = []
        while self._tail_size - len(self._tail[0]) >= TAIL_SIZE:
            oldest = self._tail.popleft()
            self._tail_size -= len(oldest)
            ready.append(oldest)
        if ready:
            self._write(ready[0] if len(ready) == 1 else b"".join(ready))

    def _write(self, data: bytes) -> None:
        if self._wrote_records:
            self._spool.write_records(data, first_of_reply=False)
            return
        data = data.lstrip(_WHITESPACE)
        if data:
            self._spool.write_records(data, first_of_reply=True)
            self._wrote_records = True

    def _parse_head(self) -> int:
        """Parse the envelope up to the `infoCdrs` array; return the offset of its first byte."""
        head = bytes(self._head)
        position = _skip(head, 0)
        if position < len(head) and head[position : position + 1] == b"[":
            self._wrapped = True
            position = _skip(head, position + 1)
        _expect(head, position, b"{")
        position += 1
        while True:
            position = _skip(head, position)
            _need(head, position)
            if head[position : position + 1] == b"}":
                raise NeedMoreData  # an object without infoCdrs: parsed whole by the caller
            key, position = _string(head, position)
            position = _skip(head, position)
            _expect(head, position, b":")
            position = _skip(head, position + 1)
            _need(head, position)
            if key == "infoCdrs" and head[position : position + 1] == b"[":
                return position + 1
            end = _value_end(head, position)
            self._members[key] = _loads(head[position:end])
            position = _skip(head, end)
            _need(head, position)
            if head[position : position + 1] == b",":
                position += 1
                continue
            if head[position : position + 1] == b"}":
                raise NeedMoreData
            raise ReplyFormatError(
                f"unexpected byte {head[position : position + 1]!r} in the reply"
            )

    def _trailing_members(self, suffix: bytes) -> dict[str, Any] | None:
        """Parse what follows the array: `(,"key":value)* }` and `]` if wrapped, or None."""
        text = suffix.strip(_WHITESPACE)
        if self._wrapped:
            if not text.endswith(b"]"):
                return None
            text = text[:-1].rstrip(_WHITESPACE)
        if not text.endswith(b"}"):
            return None
        members = text[:-1].strip(_WHITESPACE)
        if not members:
            return {}
        if not members.startswith(b","):
            return None
        try:
            parsed = _loads(b"{" + members[1:] + b"}")
        except ReplyFormatError:
            return None
        return parsed if isinstance(parsed, dict) else None


def _candidates(tail: bytes):
    position = tail.find(b"]")
    while position >= 0:
        yield position
        position = tail.find(b"]", position + 1)


def _skip(data: bytes, position: int) -> int:
    while position < len(data) and data[position] in _WHITESPACE:
        position += 1
    return position


def _need(data: bytes, position: int) -> None:
    if position >= len(data):
        raise NeedMoreData


def _expect(data: bytes, position: int, token: bytes) -> None:
    _need(data, position)
    if data[position : position + 1] != token:
        raise ReplyFormatError(
            f"reply is not a JSON object: expected {token.decode()!r} at byte {position}, "
            f"found {data[position : position + 1]!r}"
        )


def _string(data: bytes, position: int) -> tuple[str, int]:
    _expect(data, position, b'"')
    match = _STRING.match(data, position)
    if match is None:
        raise NeedMoreData
    return _loads(match.group()), match.end()


def _value_end(data: bytes, position: int) -> int:
    """Return the offset after the JSON value that starts at `position`."""
    first = data[position : position + 1]
    if first == b'"':
        return _string(data, position)[1]
    if first in (b"{", b"["):
        depth = 0
        index = position
        while index < len(data):
            byte = data[index : index + 1]
            if byte == b'"':
                index = _string(data, index)[1]
                continue
            if byte in (b"{", b"["):
                depth += 1
            elif byte in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    return index + 1
            index += 1
        raise NeedMoreData
    index = position
    while (
        index < len(data)
        and data[index : index + 1] not in (b",", b"}", b"]")
        and (data[index] not in _WHITESPACE)
    ):
        index += 1
    if index >= len(data):
        raise NeedMoreData
    return index


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise ReplyFormatError(f"reply is not JSON ({type(error).__name__})") from None
