"""Caching (placeholder until the FlextApiCache package lands; its owner writes this file)."""
