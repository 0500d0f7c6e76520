"""The storage suites, written once as async; ``../_sync`` is generated from them."""
