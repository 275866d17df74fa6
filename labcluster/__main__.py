"""`python -m labcluster ...` (how `up` starts the server)."""

import sys

from .cli import main

sys.exit(main())
