"""``python -m services.state``."""

import sys

from services.state.main import main

sys.exit(main())
