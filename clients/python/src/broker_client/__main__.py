"""``python -m broker_client`` is ``brokerctl``."""

import sys

from .cli import main

sys.exit(main())
