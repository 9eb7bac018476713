"""`python -m jujusim simulate CHARM` and `python -m jujusim run SCRIPT`: see `jujusim.cli`."""

import sys

from .cli import main

sys.exit(main())
