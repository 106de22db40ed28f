"""Collecting this directory switches the direktiv-tls-conformance plugin on (probes.plugin looks for the line
below in the conftest.py of each collection argument's directory and the directories above it). Anywhere else the
plugin stays out of the way."""

DIREKTIV_TLS_CONFORMANCE_SUITE = True
