"""Observability: metrics, status and the live dashboard."""
