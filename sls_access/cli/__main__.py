"""``python -m sls_access.cli``: the same as the ``sls-access`` console script."""

from __future__ import annotations

import sys

from sls_access.cli import main

sys.exit(main())
