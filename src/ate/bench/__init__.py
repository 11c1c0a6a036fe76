"""Protocols, rollouts and success statistics."""
