"""Benchmarks: the suite's speed on the sandbox, side by side with sslyze and testssl.sh (issue 7).

``python -m benchmarks.run`` runs everything and writes ``reports/benchmark.json``; see ``benchmarks/README.md``.
"""
