"""Files that appear whole or not at all."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: bytes of the random part and the suffix mkstemp adds to the temporary name
_TMP_EXTRA = len(".") + 8 + len(".tmp")


class OutputPathError(OSError):
    """An output path that cannot be written; ``str()`` is one line naming the path and the fix."""

    def __str__(self) -> str:
        return self.args[1] if len(self.args) > 1 else super().__str__()


_FIX = {
    errno.EISDIR: "it is a directory; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another folder",
    errno.EEXIST: "a part of the path is a file, not a folder; choose another folder",
    errno.ENAMETOOLONG: "the name is too long for this file system; choose a shorter one",
    errno.EACCES: "no permission to write there; choose a writable folder",
    errno.EPERM: "no permission to write there; choose a writable folder",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.ENOSPC: "the disk is full; free space or choose another disk",
    errno.EDQUOT: "the disk quota is exhausted; free space or choose another disk",
    errno.EFBIG: "a file-size limit (ulimit -f) was reached; raise it or write less",
    errno.ENOENT: "a folder on the way does not exist and cannot be made; choose another folder",
}


def output_error(path: str | Path, e: OSError) -> OutputPathError:
    """A one-line :class:`OutputPathError` for ``e`` raised while writing ``path``."""
    fix = _FIX.get(e.errno, "choose another path")
    return OutputPathError(e.errno or 0, f"cannot write {path}: {e.strerror or e} ({fix})", str(path))


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _tmp_prefix(name: str, limit: int) -> str:
    """``.NAME.``, with NAME cut (on a UTF-8 character boundary) so the temporary name fits in ``limit`` bytes."""
    room = max(1, limit - _TMP_EXTRA - 1)
    raw = f".{name}".encode("utf-8", "surrogateescape")[:room]
    return raw.decode("utf-8", "ignore") + "."


@contextmanager
def atomic_path(path: str | Path, *, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On any exception (Ctrl-C included) the temporary file is removed and
    ``path`` is left as it was, so readers never see a half-written file. A path
    that cannot be written (a directory, under a file, a read-only or full disk, a
    name too long) raises :class:`OutputPathError` naming ``path``, not the
    temporary name; a name that fits the file system always gets a temporary name
    that fits too.
    """
    path = Path(path)
    if path.is_symlink():  # write the file the link names, and keep the link (a rename would replace it)
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO, a device, a socket: never replaced
        kind = "FIFO" if path.is_fifo() else "device" if path.is_block_device() or path.is_char_device() else "socket"
        raise OutputPathError(errno.EEXIST, f"cannot write {path}: it is a {kind}, not a regular file (give a file "
                                            "name)", str(path))
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if len(path.name.encode("utf-8", "surrogateescape")) > _name_max(path.parent if path.parent.is_dir() else Path(".")):
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path.name, _name_max(path.parent)), suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise output_error(path, e) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)  # mkstemp makes it private; results are meant to be shared
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, OutputPathError):
            raise output_error(path, e) from None
        code = _os_error_code(e)
        if code is not None:  # a writer in another language (safetensors, pyarrow) reporting the same failure
            raise output_error(path, OSError(code, os.strerror(code), str(path))) from None
        raise


def _os_error_code(e: BaseException) -> int | None:
    """The errno a non-Python writer put in its message ("... (os error 28)"), if any."""
    if isinstance(e, Exception):
        m = re.search(r"\(os error (\d+)\)", str(e))
        if m:
            return int(m.group(1))
    return None
