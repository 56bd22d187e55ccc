"""Executors: where lineages run. Serial, a local process pool, or Ray.

All three take picklable tasks and a top-level function and yield
``(task, result)`` as tasks finish. Workers only compute and return records;
the caller is the one writer to the SQLite store, so a Ray cluster never
writes to a database over a network file system.

Every worker computes under the one thread policy of :mod:`redqueen.runtime.threads`
(one BLAS/torch thread per worker unless ``threads`` or ``$REDQUEEN_THREADS`` says otherwise):
pool workers set it in their initializer, Ray tasks when they start, the serial executor
around its loop (``executor.threads`` is the count for a caller that runs tasks itself).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Iterable, Iterator

from redqueen.runtime import threads as _threads
from redqueen.runtime.lease import process_start


#: how often a pool worker checks that the process that started it is alive
WATCHDOG_S = 0.5


def _watch_parent(pid: int, start: str) -> None:
    from redqueen.runtime.lease import pid_alive

    while pid_alive(pid, start):
        time.sleep(WATCHDOG_S)
    os._exit(1)  # the writer is gone: nobody will store this lineage's records


def _worker_init(parent: int, parent_start: str, threads: int) -> None:
    """Pool worker set-up: ignore Ctrl-C (only the writer sees it and stops cleanly), apply the
    thread policy, and die with the writer.

    A worker's parent is the forkserver, not the writer, so a SIGKILLed writer would leave workers computing
    for minutes; a daemon thread watches the writer's pid (and start time) and ends the worker when it is gone."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _threads.apply(threads)
    threading.Thread(target=_watch_parent, args=(parent, parent_start), name="redqueen-watchdog", daemon=True).start()


def _limited_call(fn: Callable, threads: int, task):
    """Run ``fn(task)`` under the thread policy (a Ray task's body)."""
    _threads.apply(threads)
    return fn(task)


class SerialExecutor:
    name = "serial"

    def __init__(self, threads: int | None = None):
        self.threads = _threads.threads_per_worker(threads)

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator[tuple[object, object]]:
        with _threads.limited(self.threads):
            for t in tasks:
                yield t, fn(t)

    def close(self) -> None:
        pass


class PoolExecutor:
    """A local process pool (``workers`` defaults to the number of CPUs)."""

    name = "pool"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        import multiprocessing as mp

        self.workers = workers or os.cpu_count() or 1
        self.threads = _threads.threads_per_worker(threads)
        # forkserver: workers never inherit the parent's threads or open SQLite handles;
        # workers ignore Ctrl-C so that only the writer sees it and stops cleanly
        self.pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("forkserver"),
                                        initializer=_worker_init,
                                        initargs=(os.getpid(), process_start(os.getpid()), self.threads))

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator[tuple[object, object]]:
        tasks = list(tasks)
        pending = {}
        it = iter(tasks)
        for t in it:
            pending[self.pool.submit(fn, t)] = t
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                t = pending.pop(fut)
                yield t, fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending[self.pool.submit(fn, nxt)] = nxt

    def close(self) -> None:
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:  # lineages still running are abandoned: a later sweep reruns them
            if p.is_alive():
                p.terminate()


class RayExecutor:
    """Ray tasks on a cluster at ``address``, or on a local Ray started with no dashboard and its temp dir in ``temp_dir``."""

    name = "ray"

    def __init__(self, address: str | None = None, temp_dir: str | Path | None = None, workers: int | None = None,
                 threads: int | None = None):
        self.threads = _threads.threads_per_worker(threads)
        try:
            import ray
        except ImportError:
            raise ValueError("--executor ray needs Ray: pip install 'redqueen[ray]'") from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address:
                reachable(address)
                kwargs["address"] = address
            else:
                if temp_dir is not None:
                    # Ray's socket paths must stay short: use a short absolute dir
                    Path(temp_dir).mkdir(parents=True, exist_ok=True)
                    kwargs["_temp_dir"] = str(Path(temp_dir).resolve())
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
            ray.init(**kwargs)
            self.started = True

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator[tuple[object, object]]:
        remote = self.ray.remote(_limited_call)
        refs = {remote.remote(fn, self.threads, t): t for t in tasks}
        while refs:
            done, _ = self.ray.wait(list(refs), num_returns=1)
            for ref in done:
                yield refs.pop(ref), self.ray.get(ref)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


#: seconds to wait for a Ray cluster's address to answer before giving up
CONNECT_TIMEOUT_S = 5.0


def reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ``ValueError`` (one line) unless something listens at a Ray ``address`` (``host:port`` or
    ``ray://host:port``; ``auto`` and ``local`` are Ray's own and not checked). ray.init waits minutes otherwise."""
    import socket
    from urllib.parse import urlsplit

    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ValueError(f"--address {address!r} is not host:port (or ray://host:port, auto)")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ValueError(f"--address {address}: nothing answers there within {timeout:.0f} s ({e.strerror or e}); "
                         "start the Ray cluster or fix the address") from None


#: the executors :func:`make_executor` makes
KINDS = ("serial", "pool", "ray")


def make_executor(kind: str, *, workers: int | None = None, address: str | None = None,
                  temp_dir: str | Path | None = None, threads: int | None = None):
    """The one factory from a CLI string to an executor; raises ``ValueError`` for an unknown kind
    or a bad thread count. ``threads``: BLAS/torch threads per worker (default: the policy's)."""
    if kind == "serial":
        return SerialExecutor(threads)
    if kind == "pool":
        return PoolExecutor(workers, threads)
    if kind == "ray":
        return RayExecutor(address, temp_dir, workers, threads)
    raise ValueError(f"unknown executor {kind!r}; choose {', '.join(KINDS[:-1])} or {KINDS[-1]}")
