"""Kafka plumbing: connection settings, the local Apache Kafka broker, and admin operations."""
