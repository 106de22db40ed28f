"""direktiv-tls-conformance: checks a Direktiv installation's TLS and mTLS on Kubernetes.

The library is ``probes``, the emulated cluster ``sandbox``; this package holds the bundled conformance suite
(``direktiv_tls_conformance.suites``, the checkout's ``suites/``) and the ``direktiv-tls-conformance`` command
(:mod:`direktiv_tls_conformance.cli`).
"""
