"""Offline work on galleries and pairs: evaluation protocols, training runs, reports and plots.

Imports no Flask or click; the CLI (app/cli/evaluate.py, app/cli/train.py) drives it.
"""
