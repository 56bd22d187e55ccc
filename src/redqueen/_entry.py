"""The console script's first frame: Ctrl-C while the command line's libraries load is one line, not a traceback.

Kept free of imports beyond the standard library, because everything imported
here runs before the guard is in place.
"""

import sys


def _interrupted(e: BaseException) -> bool:
    """Whether ``e`` is a Ctrl-C, or an error that a Ctrl-C caused: Python wraps an exception raised while a
    class body is being set up (``__set_name__``, as pydantic's descriptors do) in a RuntimeError, and
    pydantic-core turns one that lands while it builds a validator into a ``SchemaError`` that only names it."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        if type(e).__name__ == "SchemaError" and "KeyboardInterrupt" in str(e):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def entry() -> int:
    try:
        from redqueen.cli import entry as cli_entry
    except BaseException as e:
        if not _interrupted(e):
            raise
        print("redqueen: interrupted while starting; nothing was run", file=sys.stderr)
        return 130
    return cli_entry()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
