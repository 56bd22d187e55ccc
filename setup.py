"""Packaging is in pyproject.toml; this adds one build step: the git commit of the checkout a wheel is built from
is written into it (``redqueen/_build_commit.py``), so a run of an installed redqueen (``pip install .``) still
records which source it ran. Built outside a git checkout (an sdist, no git), nothing is written."""

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


def _commit(root: Path) -> str | None:
    def git(*args):
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top, commit = git("rev-parse", "--show-toplevel"), git("rev-parse", "HEAD")
    if not top or not commit or Path(top).resolve() != root.resolve():
        return None
    return commit + ("+dirty" if git("status", "--porcelain", "--", "src") else "")


class BuildPyWithCommit(build_py):
    def run(self):
        super().run()
        commit = _commit(Path(__file__).resolve().parent)
        if commit and not self.editable_mode:
            target = Path(self.build_lib) / "redqueen" / "_build_commit.py"
            target.write_text(f'"""Written by setup.py at build time."""\nCOMMIT = {commit!r}\n', encoding="utf-8")


setup(cmdclass={"build_py": BuildPyWithCommit})
