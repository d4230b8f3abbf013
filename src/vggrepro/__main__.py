"""``python -m vggrepro``: see ``vggrepro.cli``."""

import sys

from vggrepro.cli import main

sys.exit(main())
