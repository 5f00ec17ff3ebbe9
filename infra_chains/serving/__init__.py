"""The serving runtime: the process every chainlet runs in, the same on every target."""
