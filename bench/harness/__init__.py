"""Measurement machinery shared by all systems (stdlib only; not an installed package)."""
