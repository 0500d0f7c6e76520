"""Tests that only make sense on an event loop (cancellation, task groups): asyncio and trio."""
