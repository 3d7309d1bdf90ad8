"""`python -m sentinel` is the `sentinel` command."""
import sys

from sentinel.daemon.cli import main

sys.exit(main())
