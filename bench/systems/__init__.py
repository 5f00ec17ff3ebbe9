"""One adapter per benchmarked system (see base.py for the interfaces)."""
