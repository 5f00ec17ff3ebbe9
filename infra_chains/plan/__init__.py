"""ChainGraph -> ChainPlan: per-chainlet specs as pure, deterministic data."""
