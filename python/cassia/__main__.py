"""``python -m cassia``: the ``cassia`` command, for environments where its script is not on PATH
(a venv not activated, R's reticulate environment)."""

import sys

from .cli import main

sys.exit(main())
