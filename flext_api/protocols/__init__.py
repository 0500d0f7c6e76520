"""Protocol clients built on the flext-api transport (WebSocket, ...)."""
