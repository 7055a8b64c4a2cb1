"""``python -m controller`` is ``rayop``."""

import sys

from controller.cli import main

sys.exit(main())
