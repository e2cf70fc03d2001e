"""The initiative's federated count tables: the command a registry runs on its own CSV, the
tables themselves, result zips, pooling and small-cell suppression.

Plain Python: nothing here imports Django, so `gdsi-federated` runs on a laptop with only the
project's package installed. The platform's side (feed jobs, uploads) lives in `exports.feeds`.
"""
