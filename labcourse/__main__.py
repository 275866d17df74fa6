"""``python -m labcourse``: the ``labcourse`` command where its script is not on PATH."""

import sys

from labcourse.cli import main

sys.exit(main())
