"""Where a run came from: package version, git commit, Python, platform, and run ids."""

from __future__ import annotations

import datetime as _dt
import platform as _platform
import secrets
import subprocess
import sys
from pathlib import Path


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


def provenance() -> dict[str, str | None]:
    """Package version, git commit, Python version and platform of this process."""
    return {
        "version": package_version(),
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": _platform.platform(),
    }


def new_run_id(now: _dt.datetime | None = None) -> str:
    """``YYYYMMDD-HHMMSS-xxxx`` in UTC with 4 random hex digits (the store retries on the rare clash)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
