"""``direktiv-tls-conformance [pytest options]``: pytest on the bundled conformance suite.

    direktiv-tls-conformance --kubeconfig ~/.kube/config --direktiv-namespace direktiv
    direktiv-tls-conformance --direktiv-sandbox conformant -k flow-grpc

The reports land in ``reports/`` under the current directory (or beside ``--junitxml PATH``). The suite's
directory is added as the one collection argument and the current directory is pytest's rootdir. No ini file is
read unless one is given with ``-c FILE``: pytest would otherwise take the first one above the installed package
(a project's ``pyproject.toml`` around its virtual environment, say) with whatever ``addopts`` it holds. The exit
status is pytest's: 0 every control passed or did not apply, 1 a control failed, 4 a usage error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main", "suite_directory"]


def suite_directory() -> Path:
    """Where the bundled suite is (``direktiv_tls_conformance/suites`` installed, ``suites/`` in a checkout)."""
    import direktiv_tls_conformance.suites as suites

    return Path(suites.__file__).resolve().parent


def _given(args: Sequence[str], *flags: str) -> bool:
    return any(a in flags or a.startswith(tuple(f"{f}=" for f in flags if f.startswith("--"))) for a in args)


def main(argv: Sequence[str] | None = None) -> int:
    import pytest

    args = list(sys.argv[1:] if argv is None else argv)
    defaults = []
    if not _given(args, "--rootdir"):
        defaults.append(f"--rootdir={os.getcwd()}")
    if not _given(args, "-c", "--config-file", "--inifile"):
        defaults.append(f"--config-file={os.devnull}")  # pytest's way of saying: no ini file
    suites = suite_directory()
    _forget_own_package()
    # The cache would go to the rootdir as .pytest_cache/; a conformance run has no use for --lf across runs.
    return int(pytest.main(["-p", "no:cacheprovider", *defaults, *args, str(suites)]))


def _forget_own_package() -> None:
    """pytest rewrites the asserts of a plugin distribution's modules and warns about each one it finds imported
    already, as this command's own package is by now. Nothing in it needs rewriting: it leaves ``sys.modules``
    (the code running now keeps its module objects), and pytest imports what it needs afresh."""
    for name in [n for n in sys.modules if n == __package__ or n.startswith(f"{__package__}.")]:
        del sys.modules[name]


if __name__ == "__main__":
    sys.exit(main())
