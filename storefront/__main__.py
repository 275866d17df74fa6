"""`python -m storefront backend|cart`."""

import sys

from storefront.cli import main

sys.exit(main())
