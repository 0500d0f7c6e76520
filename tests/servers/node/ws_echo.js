// An echo server on Node's `ws` (v8) for the interop tests: 127.0.0.1, a port the kernel
// picks (printed on stdout once listening); argv[2] "1" turns permessage-deflate on. The text
// message "close:<code>" makes it close with that code instead of echoing.
const { WebSocketServer } = require("ws");

const compression = process.argv[2] === "1";
const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate: compression,
  maxPayload: 4 * 1024 * 1024,
});
server.on("listening", () => {
  process.stdout.write(`${server.address().port}\n`);
});
server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => {
    const text = isBinary ? "" : data.toString();
    if (text.startsWith("close:")) {
      socket.close(Number(text.slice(6)));
    } else {
      socket.send(data, { binary: isBinary });
    }
  });
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
