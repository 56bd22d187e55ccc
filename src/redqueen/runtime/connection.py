"""The store's SQLite connection: opening (writable or read-only), upgrading, transactions, and
knowing that the file written is still the file opened.

* Writable stores run in WAL mode with a busy timeout; every write is one
  ``BEGIN IMMEDIATE`` transaction, every read one snapshot.
* A store that cannot be written (read-only media, no permission) opens
  read-only at once (``mode=ro``, or ``immutable=1`` when SQLite cannot make
  its shared-memory file there); an older schema is then upgraded in a copy in
  memory, never on disk.
* Every write first checks that ``runs.db`` is the file this connection opened
  (``st_dev``/``st_ino``), that its write-ahead log is the one it opened, and
  that the store's random id (table ``store_info``) is unchanged, in the connection and,
  whenever the file's size or times moved, in the file itself: a store deleted, moved
  away, replaced or overwritten in place mid-run raises :class:`StoreGone` instead of
  writing into a file nobody will read.
* SQLite's errors become one-line :class:`StoreError` s naming the cause and
  the fix (locked past the timeout, disk full or a file-size limit, damaged,
  not a database, read-only); an ``IntegrityError`` (a duplicate record) is
  the caller's and passes through.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from redqueen.runtime import migrations

BUSY_TIMEOUT_S = 30.0


class StoreError(RuntimeError):
    """The store cannot do what was asked: damaged, foreign, read-only, locked, full, replaced
    mid-run, or a run owned by another process. The message is one line naming the fix."""


class StoreGone(StoreError):
    """The store file, its folder or its write-ahead log was deleted or replaced while open."""


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _content_stamp(path: Path) -> tuple[int, int, int] | None:
    """Size, modification and change time of ``path``: they move when anything writes the file in place."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _store_id_on_disk(path: Path) -> str | None:
    """The store id that ``path`` itself holds, read past this process's page cache and the write-ahead
    log (``immutable=1`` reads the main file alone); None where the file shows none (not yet
    checkpointed into it, a checkpoint under way, or not a redqueen store)."""
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            row = conn.execute("SELECT value FROM store_info WHERE key = 'id'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def writable(folder: Path, path: Path) -> bool:
    """Whether this process may write the store (an existing ``path`` in ``folder``)."""
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK | os.X_OK)


def _busy(e: sqlite3.Error) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


class Database:
    """One SQLite connection to ``path``, reopened after ``fork``; see the module docstring."""

    def __init__(self, path: Path, *, readonly: bool, timeout: float | None = None):
        self.path = Path(path)
        self.wal = self.path.with_name(self.path.name + "-wal")
        self.readonly = readonly
        self.timeout = BUSY_TIMEOUT_S if timeout is None else timeout
        self.lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._ident: tuple[int, int] | None = None
        self._wal_ident: tuple[int, int] | None = None
        self._store_id: str | None = None
        self._stamp: tuple[int, int, int] | None = None  # of runs.db when last known to hold this store

    @property
    def pid(self) -> int:
        return self._pid

    def close(self) -> None:
        with self.lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # opening

    def connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            conn = self._open_readonly() if self.readonly else self._open()
        except sqlite3.Error as e:
            raise self.error(e) from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _check_schema(self, conn: sqlite3.Connection) -> int:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        why = migrations.looks_foreign(conn, version)
        if why:
            raise StoreError(f"{self.path} is not a redqueen results store ({why}); pass another --out folder")
        if version > migrations.LATEST:
            raise StoreError(f"{self.path} was written by a newer redqueen (schema {version}; this one reads up to "
                             f"{migrations.LATEST}); upgrade redqueen to read it")
        return version

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self._check_schema(conn)
            deadline = time.monotonic() + self.timeout
            while True:  # switching to WAL needs a moment alone with the file; other openers may hold it
                try:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as e:
                    if not _busy(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: SQLite refused WAL mode ({mode}); is the folder on a network file system?")
            conn.execute("PRAGMA synchronous = NORMAL")
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version < migrations.LATEST:
                conn.execute("PRAGMA foreign_keys = OFF")  # a table others refer to is rebuilt by some steps
                self._in_tx(conn, "BEGIN IMMEDIATE", migrations.migrate)
                if 0 < version < migrations.REBUILT_AT:  # give the old tables' pages back (best effort: a reader may hold it)
                    try:
                        conn.execute("VACUUM")
                    except sqlite3.OperationalError:
                        pass
            conn.execute("PRAGMA foreign_keys = ON")
            self._ident, self._wal_ident = _identity(self.path), _identity(self.wal)
            self._store_id = self._read_store_id(conn)
            self._stamp = _content_stamp(self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        uri = "file:" + urllib.parse.quote(str(self.path.resolve()))
        for i, flags in enumerate(("?mode=ro", "?immutable=1")):  # immutable: SQLite cannot make its -shm file here
            conn = sqlite3.connect(uri + flags, uri=True, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
            try:
                version = self._check_schema(conn)
                break
            except sqlite3.OperationalError:
                conn.close()
                if i == 1:
                    raise
            except BaseException:
                conn.close()
                raise
        if version < migrations.LATEST:  # upgrade a copy in memory; the file stays as it is
            mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.backup(mem)
            conn.close()
            conn = mem
            self._in_tx(conn, "BEGIN", migrations.migrate)
        conn.execute("PRAGMA query_only = ON")
        return conn

    @staticmethod
    def _in_tx(conn: sqlite3.Connection, begin: str, fn) -> None:
        conn.execute(begin)
        try:
            fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _read_store_id(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT value FROM store_info WHERE key = 'id'").fetchone()
        return row[0] if row else None

    # writing into the right file

    def _verify(self, conn: sqlite3.Connection) -> None:
        """Raise :class:`StoreGone` unless the file, its WAL and the store id are the ones opened."""
        where = self.path.parent
        now = _identity(self.path)
        if now is None:
            why = "deleted (or its folder was)"
        elif now != self._ident:
            why = "replaced by another file"
        else:
            wal = _identity(self.wal)
            if self._wal_ident is None:
                self._wal_ident = wal
            why = "left without its write-ahead log (runs.db-wal was deleted or replaced)" \
                if self._wal_ident is not None and wal != self._wal_ident else None
            if why is None and self._read_store_id(conn) != self._store_id:
                why = "replaced by another store"
            if why is None:
                why = self._overwritten()
        if why:
            raise StoreGone(f"{self.path}: the results store was {why} while this process was writing it; records "
                            f"written from now on would be lost, so it stops here; keep other programs out of {where}")

    def _overwritten(self) -> str | None:
        """Why ``runs.db`` no longer holds this store though it is the same file (None if it does).

        The connection's page cache and the write-ahead log would hide a file overwritten in place
        (``cp other/runs.db runs.db``: same path, same inode). Whenever the file's size or times moved
        since it was last checked, the store id is read from the file itself: another store's id there
        is an overwrite. A file that shows no id yet (a live store's schema may not have been
        checkpointed into it; a checkpoint may be under way) is looked at again on the next write.
        Not caught: an overwrite before this store's first checkpoint, which this process's next
        checkpoint then mixes with its own pages (the file may then show this store's id again).
        """
        stamp = _content_stamp(self.path)
        if stamp == self._stamp:
            return None
        on_disk = _store_id_on_disk(self.path)
        if on_disk is not None and on_disk != self._store_id:
            return "overwritten in place by another store"
        if on_disk is not None:
            self._stamp = stamp
        return None

    # transactions and errors

    @contextmanager
    def tx(self, begin: str) -> Iterator[sqlite3.Connection]:
        """One transaction: ``BEGIN IMMEDIATE`` to write (after :meth:`_verify`), ``BEGIN`` for a consistent read."""
        write = begin != "BEGIN"
        if write and self.readonly:
            raise StoreError(f"{self.path}: the store is open read-only (read-only media or no write permission); "
                             "copy the folder somewhere writable to add to it")
        with self.lock:
            conn = self.connect()
            try:
                conn.execute(begin)
                try:
                    if write:
                        self._verify(conn)
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as e:
                if isinstance(e, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
                    raise
                raise self.error(e) from None

    def error(self, e: sqlite3.Error) -> StoreError:
        """One line for what SQLite said."""
        msg = str(e)
        low = msg.lower()
        if _busy(e):
            return StoreError(f"{self.path}: another process has held the store's write lock for over "
                              f"{self.timeout:.0f} s ({msg}); try again when it has finished, or stop it")
        if "full" in low or "disk i/o" in low or "too big" in low:
            return StoreError(f"{self.path}: cannot write the store ({msg}): the disk is full or a file-size limit "
                              "(ulimit -f) was reached; free space, then `redqueen resume` the run")
        if "malformed" in low or "not a database" in low or "encrypted" in low:
            return StoreError(f"{self.path}: the store is damaged or not a SQLite database ({msg}); restore it "
                              "from a backup or pass another --out folder")
        if "readonly" in low or "read-only" in low:
            return StoreError(f"{self.path}: the store cannot be written ({msg}); use a writable --out folder")
        if "unable to open" in low:
            return StoreError(f"{self.path}: cannot open the store ({msg}); check that the folder exists and "
                              "can be read and written")
        if "no such table" in low and self._store_id is not None:  # the schema was whole when this process opened it
            return StoreError(f"{self.path}: the results store changed under this process ({msg}): it was overwritten "
                              "or damaged while this process was writing it; keep other programs out of "
                              f"{self.path.parent} and restore the store from a backup")
        return StoreError(f"{self.path}: SQLite error ({msg})")
