"""Real test peers on loopback, started and stopped by the fixtures in tests/conftest.py.

- `app`: the ASGI app every HTTP server here serves (routes listed in its module docstring).
- `runners`: uvicorn (h11, httptools, Unix socket) and hypercorn (TLS + ALPN h2, h2c) in threads.
- `raw`: a scripted raw-socket server and the misbehaving-server scripts.
- `tls`: trustme CA and certificates (valid, untrusted CA, expired, wrong hostname).
- `guard`: refuses non-loopback connects during the test run.

Import them as `tests.servers.raw` and so on (tests/ is a package).
"""
