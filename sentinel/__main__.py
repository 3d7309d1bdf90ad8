"""`python -m sentinel` is the `sentinel` command."""
import sys

from .cli import main

sys.exit(main())
