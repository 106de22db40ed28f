"""The Direktiv TLS conformance suite: one test per control of CONTROLS.md, parametrized by endpoint.

In a checkout it runs as ``pytest suites/``; the wheel ships it as ``direktiv_tls_conformance.suites`` (``pytest
--pyargs direktiv_tls_conformance.suites``, or the ``direktiv-tls-conformance`` command).
"""
