"""``python -m stochrobust`` runs the ``stochrobust`` console script."""

import sys

from stochrobust.cli import main

sys.exit(main())
