"""SQLite plumbing shared by the broker store and the delivery queue: one transaction per call, and
sqlite3/OS errors translated to `StoreError` at this edge."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from .base import StoreError


@contextmanager
def transaction(conn: sqlite3.Connection, begin: str) -> Iterator[None]:
    """Run the block in one transaction; any exception rolls it back and propagates.

    Inside a transaction that is already open (a caller grouping several calls into one commit) the block is a
    savepoint instead: its exception undoes only its own changes, and the outer commit makes it durable.
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT call")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO call")
            conn.execute("RELEASE call")
            raise
        conn.execute("RELEASE call")
        return
    conn.execute(begin)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def translated(path: str | os.PathLike[str], action: str) -> Iterator[None]:
    """Turn sqlite3 and OS errors into `StoreError` naming the file and what was being done."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"{path}: {action} failed: {exc}") from exc
