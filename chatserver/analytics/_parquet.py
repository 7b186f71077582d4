"""Parquet output through pyarrow (the optional ``parquet`` extra), written row group by row
group to an in-memory sink that is emptied after each one: memory stays flat."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import Unsupported
from .rows import conversation_row, ts_ms

ROWS_PER_GROUP = 20_000


def require() -> None:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise Unsupported(
            "parquet needs the optional extra: pip install 'chatserver[parquet]' (pyarrow)"
        ) from None


class _Sink:
    """A write-only file object that hands out what was written since the last `take`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.closed = False
        self._size = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._size += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts = []
        return data


def _schema(shape: str) -> Any:
    import pyarrow as pa

    ts = pa.timestamp("ms", tz="UTC")
    if shape == "messages":
        return pa.schema(
            [
                ("conversation_id", pa.string()),
                ("seq", pa.int64()),
                ("ts", ts),
                ("topic", pa.string()),
                ("language", pa.string()),
                ("role", pa.string()),
                ("author", pa.string()),
                ("text", pa.string()),
                ("digest", pa.string()),
                ("seal", pa.string()),
            ]
        )
    return pa.schema(
        [
            ("conversation_id", pa.string()),
            ("visitor", pa.string()),
            ("site", pa.string()),
            ("topic", pa.string()),
            ("language", pa.string()),
            ("status", pa.string()),
            ("agents", pa.list_(pa.string())),
            ("created_at", ts),
            ("first_assigned_at", ts),
            ("first_response_at", ts),
            ("closed_at", ts),
            ("closed_by", pa.string()),
            ("wait_s", pa.float64()),
            ("first_response_s", pa.float64()),
            ("handle_s", pa.float64()),
            ("transfers", pa.int32()),
            ("abandoned", pa.bool_()),
            ("messages", pa.int32()),
            ("tags", pa.list_(pa.string())),
            ("rating", pa.int8()),
            ("comment", pa.string()),
            ("page_url", pa.string()),
            ("transcript", pa.string()),
            ("digest", pa.string()),
            ("seal", pa.string()),
            ("bot_id", pa.string()),
            ("handed_over_at", ts),
        ]
    )


def _conversation_rows(docs: Iterator[dict[str, Any]]) -> Iterator[list[Any]]:
    for doc in docs:
        row = conversation_row(doc)
        row[6] = list(doc["conversation"]["agents"])
        for i in (7, 8, 9, 10):
            row[i] = None if row[i] is None else ts_ms(row[i])
        row[18] = list(doc["conversation"]["tags"])
        row[26] = None if row[26] is None else ts_ms(row[26])
        yield row


def _message_rows(
    groups: Iterator[tuple[list[tuple[Any, ...]], str, str]],
) -> Iterator[list[Any]]:
    for rows, digest, seal in groups:
        for r in rows:
            yield [r[0], r[1], ts_ms(r[2]), r[3], r[4], r[5], r[6] or None, r[7], digest, seal]


def message_chunks(groups: Iterator[tuple[list[tuple[Any, ...]], str, str]]) -> Iterator[bytes]:
    return _chunks(_message_rows(groups), "messages")


def conversation_chunks(docs: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    return _chunks(_conversation_rows(docs), "conversations")


def _chunks(rows: Iterator[list[Any]], shape: str) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(shape)
    sink = _Sink()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd")
    width = len(schema)
    columns: list[list[Any]] = [[] for _ in range(width)]
    count = 0

    def flush() -> None:
        nonlocal columns, count
        batch = pa.record_batch(
            [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)],
            schema=schema,
        )
        writer.write_batch(batch)
        columns = [[] for _ in range(width)]
        count = 0

    try:
        for row in rows:
            for i, value in enumerate(row):
                columns[i].append(value)
            count += 1
            if count >= ROWS_PER_GROUP:
                flush()
                yield sink.take()
        if count:
            flush()
    finally:
        writer.close()
    yield sink.take()
