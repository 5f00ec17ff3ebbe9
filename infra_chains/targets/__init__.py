"""Deployment targets: each turns a ChainPlan into running services and a ChainService."""
