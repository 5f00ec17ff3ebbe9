"""The `infra-chains` command line (Typer + Rich); the only place that prints."""
