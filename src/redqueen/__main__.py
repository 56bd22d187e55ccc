import sys

from redqueen._entry import entry

sys.exit(entry())
