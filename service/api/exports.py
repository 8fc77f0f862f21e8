"""Streamed exports (``format=csv``): rows written a few hundred at a time, so an export
of any size holds one page of rows in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

EXPORT_PAGE = 1000  # rows read from the database at a time
_FLUSH = 500  # rows written before each chunk is sent


def csv_lines(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> Iterator[str]:
    """A header row, then ``rows`` (only ``fields``, in that order), in chunks."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow(row)
        if i % _FLUSH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
