from __future__ import annotations

import sys

from .cli.standalone import main

sys.exit(main())
