"""The console script's first frame: Ctrl-C while the command line's libraries load is one line, not a traceback.

Kept free of imports beyond the standard library, because everything imported
here runs before the guard is in place.
"""

import sys


def entry() -> int:
    try:
        from redqueen.cli import entry as cli_entry
    except KeyboardInterrupt:
        print("redqueen: interrupted while starting; nothing was run", file=sys.stderr)
        return 130
    return cli_entry()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
