"""Exports: de-identification, export jobs, count tables, the federated command, delivery."""
