"""Who owns a run: leases with the owner's pid, host and a heartbeat, kept in the store's ``leases`` table.

A lease is a row ``(key, token, pid, pid_start, host, boot, user, acquired,
heartbeat)``; the key is a run id, or ``config:<sha256>`` for a sweep's
claim on a grid point. A lease is live while its owner is: on the owner's
own machine (same host name and boot id) that is decided by the process
table, so a SIGKILLed owner's lease is dead at once and a reused pid is not
mistaken for it (the process start time must match); from another machine
it is live while its heartbeat is younger than :data:`LEASE_TTL_S`.
A :class:`Heartbeat` thread renews every lease one store holds.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from dataclasses import dataclass

#: a lease whose heartbeat is older than this is dead, seen from another machine
LEASE_TTL_S = 60.0
#: how often the owner renews its leases
HEARTBEAT_S = 5.0


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot ('' where /proc is not available)."""
    stat = _read(f"/proc/{pid}/stat")
    # the command name (field 2) may hold spaces and parentheses: split after its closing one
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _process_state(pid: int) -> str:
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    return fields[0] if fields else ""


@dataclass(frozen=True)
class Owner:
    """The identity written into a lease."""

    pid: int
    pid_start: str
    host: str
    boot: str
    user: str

    @staticmethod
    def me() -> Owner:
        try:
            user = getpass.getuser()
        except Exception:  # no name for this uid (containers)
            user = str(os.getuid()) if hasattr(os, "getuid") else "?"
        pid = os.getpid()
        return Owner(pid, process_start(pid), socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), user)

    def describe(self) -> str:
        return f"{self.user} (pid {self.pid} on {self.host})"


def pid_alive(pid: int, start: str) -> bool:
    """Whether process ``pid`` (started at ``start``, '' if unknown) is running on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    except OSError:
        return False
    if _process_state(pid) in ("Z", "X"):  # killed, waiting to be reaped
        return False
    now = process_start(pid)
    return not (start and now and now != start)


def is_live(owner: Owner, heartbeat: float, *, now: float | None = None, me: Owner | None = None) -> bool:
    """Whether a lease held by ``owner``, last renewed at ``heartbeat`` (Unix time), is still held."""
    me = me or Owner.me()
    if owner.host == me.host and owner.boot == me.boot:
        return pid_alive(owner.pid, owner.pid_start)
    return (now if now is not None else time.time()) - heartbeat < LEASE_TTL_S


class Heartbeat:
    """A daemon thread calling ``beat()`` every :data:`HEARTBEAT_S` until :meth:`stop`; errors are kept
    for the owner to see (a store that vanished, a lock held too long) and do not end the thread."""

    def __init__(self, beat, interval: float = HEARTBEAT_S):
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="redqueen-lease-heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
                self.error = None
            except Exception as e:  # reported by the next write of the owner
                self.error = e

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=self._interval + 1)


class LeaseHeld(Exception):
    """Raised by :meth:`Leases.take` when a live process holds the lease; ``owner`` describes it."""

    def __init__(self, key: str, owner: Owner, since: str, age: float):
        self.key, self.owner, self.since, self.age = key, owner, since, age
        super().__init__(f"{key} is held by {owner.describe()} since {since}, heartbeat {age:.0f} s ago")


class Leases:
    """The leases one store holds: taken and released inside the store's write transactions,
    renewed by one :class:`Heartbeat` while any is held.

    ``tx`` is the store's write-transaction context manager. Tokens are random per take, so a
    lease taken over by another process (after this one's heartbeat stopped for
    :data:`LEASE_TTL_S`) is noticed by :meth:`check` at this process's next write.
    """

    COLUMNS = "token, pid, pid_start, host, boot, user, acquired, heartbeat"

    def __init__(self, tx):
        self._tx = tx
        self._held: dict[str, str] = {}
        self._lost: set[str] = set()
        self._heartbeat: Heartbeat | None = None
        self._me: Owner | None = None
        self._pid = os.getpid()

    def _reset_after_fork(self) -> None:
        if self._pid != os.getpid():  # a forked child owns nothing its parent held
            self._held, self._lost, self._heartbeat, self._me, self._pid = {}, set(), None, None, os.getpid()

    @property
    def me(self) -> Owner:
        self._reset_after_fork()
        if self._me is None:
            self._me = Owner.me()
        return self._me

    def holder(self, c, key: str) -> tuple[Owner, str, float] | None:
        """The live holder of ``key`` other than this store: (owner, acquired, heartbeat), else None."""
        self._reset_after_fork()
        row = c.execute(f"SELECT {self.COLUMNS} FROM leases WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] == self._held.get(key):
            return None
        owner = Owner(row[1], row[2], row[3], row[4], row[5])
        return (owner, row[6], row[7]) if is_live(owner, row[7], me=self.me) else None

    def take(self, c, key: str) -> str:
        """Write this process's lease on ``key`` inside transaction ``c``; returns its token.
        Raises :class:`LeaseHeld` when another live process holds it. Call :meth:`hold` after commit."""
        held = self.holder(c, key)
        if held is not None:
            owner, since, beat = held
            raise LeaseHeld(key, owner, since, max(0.0, time.time() - beat))
        me, now = self.me, time.time()
        token = self._held.get(key) or os.urandom(8).hex()
        acquired = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now))
        c.execute("INSERT OR REPLACE INTO leases (key, token, pid, pid_start, host, boot, user, acquired, heartbeat)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (key, token, me.pid, me.pid_start, me.host, me.boot, me.user,
                                                          acquired, now))
        return token

    def hold(self, key: str, token: str) -> None:
        self._held[key] = token
        self._lost.discard(key)
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(self.beat)

    def holds(self, key: str) -> bool:
        self._reset_after_fork()
        return key in self._held

    def check(self, c, key: str) -> None:
        """Inside a write to ``key``: raise :class:`LeaseHeld` if this store held it and lost it."""
        self._reset_after_fork()
        token = self._held.get(key)
        if token is None:
            return
        row = c.execute(f"SELECT {self.COLUMNS} FROM leases WHERE key = ?", (key,)).fetchone()
        if key in self._lost or row is None or row[0] != token:
            owner = Owner(row[1], row[2], row[3], row[4], row[5]) if row is not None else Owner(0, "", "?", "", "nobody")
            raise LeaseHeld(key, owner, row[6] if row else "?", time.time() - (row[7] if row else 0.0))

    def drop(self, c, key: str) -> None:
        """Delete this store's lease on ``key`` inside ``c``; call :meth:`forget` after commit."""
        token = self._held.get(key)
        if token is not None:
            c.execute("DELETE FROM leases WHERE key = ? AND token = ?", (key, token))

    def forget(self, key: str) -> None:
        self._held.pop(key, None)
        self._lost.discard(key)
        if not self._held and self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    def beat(self) -> None:
        with self._tx() as c:
            now = time.time()
            for key, token in list(self._held.items()):
                if c.execute("UPDATE leases SET heartbeat = ? WHERE key = ? AND token = ?", (now, key, token)).rowcount == 0:
                    self._lost.add(key)

    def release_all(self) -> None:
        """Drop every lease this store holds (on close); a store that cannot be written any more is left as is,
        its leases die with this process."""
        self._reset_after_fork()
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        if not self._held:
            return
        try:
            with self._tx() as c:
                for key in list(self._held):
                    self.drop(c, key)
        except Exception:
            pass
        self._held.clear()
        self._lost.clear()
