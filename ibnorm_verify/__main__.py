"""``python -m ibnorm_verify``: the ``ibnorm-verify`` command (see :mod:`ibnorm_verify.app.cli`)."""
from __future__ import annotations

import sys

from .app.cli import main

if __name__ == "__main__":
    sys.exit(main())
