"""``python -m direktiv_tls_conformance [pytest options]``: the same as the ``direktiv-tls-conformance`` command."""

import sys

from direktiv_tls_conformance.cli import main

sys.exit(main())
