"""ImageSpec -> build context (workspace, runtime, requirements, Dockerfile) and image layout."""
