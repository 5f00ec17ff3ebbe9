"""Defining chains: chainlets, their wiring, definition-time validation and the chain graph.

Nothing here knows about HTTP, images or deployment targets.
"""
