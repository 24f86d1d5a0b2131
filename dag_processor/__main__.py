"""``python -m dag_processor``."""

import sys

from dag_processor.main import main

sys.exit(main())
