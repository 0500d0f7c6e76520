"""Client I/O tests written once as async code; ``tests/_sync`` is generated from them."""
