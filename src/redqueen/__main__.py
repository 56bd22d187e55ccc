import sys

from redqueen.cli import main

sys.exit(main())
