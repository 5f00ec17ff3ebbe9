"""ChainletSpec -> build context directory (workspace source, requirements, Dockerfile)."""
