"""``python -m stochrobust`` runs the ``stochrobust`` console script.

``python -m`` puts the current directory first on ``sys.path``; it is removed before
anything else is imported, so that a ``PIL/`` or ``numpy.py`` lying in the working
directory is never imported (``stochrobust audit package.module:factory`` adds the
directory back, after a notice, because that form imports a module from it).
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from stochrobust.cli import main

sys.exit(main())
