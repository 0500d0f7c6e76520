"""Object storage I/O code, written once as async; ``../_sync`` is generated from it."""
