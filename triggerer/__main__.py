"""``python -m triggerer``."""

import sys

from triggerer.main import main

sys.exit(main())
