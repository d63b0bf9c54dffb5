"""``python -m callstream`` runs the CLI."""

import sys

from callstream.cli import main

sys.exit(main())
