import sys

from redqueen.cli import entry

sys.exit(entry())
