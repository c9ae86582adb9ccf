"""``python -m expys_stream``: the same as the ``expys-stream`` command."""

import sys

from ._cli import main

sys.exit(main())
