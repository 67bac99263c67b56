// The Node.js peer: the ws library (https://github.com/websockets/ws) with the same
// endpoints as raw/raw_app.py. No framework, no session, no compression (ws's default
// for a server): what a lean event-loop WebSocket server costs per message and
// per connection.
//
//   node server.js PORT
//
// /echo     echoes every message
// /whoami   sends "node", then echoes (there are no users here; the cookie is ignored)
// /sub      joins the broadcast set, sends "ready", then waits
// /control  each message received is sent to every subscriber
"use strict";

const http = require("node:http");
const { WebSocketServer } = require("ws");

const PATHS = new Set(["/echo", "/whoami", "/sub", "/control"]);
const subscribers = new Set();
const wss = new WebSocketServer({ noServer: true });

const server = http.createServer((request, response) => {
  response.writeHead(400, { "Content-Type": "text/plain" });
  response.end("WebSocket only\n");
});

server.on("upgrade", (request, socket, head) => {
  const path = new URL(request.url, "http://localhost").pathname;
  if (!PATHS.has(path)) {
    socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => serve(ws, path));
});

function serve(ws, path) {
  if (path === "/whoami") ws.send("node");
  if (path === "/sub") {
    subscribers.add(ws);
    ws.on("close", () => subscribers.delete(ws));
    ws.send("ready");
    return;
  }
  if (path === "/control") {
    ws.on("message", (data, isBinary) => {
      for (const subscriber of subscribers) subscriber.send(data, { binary: isBinary });
    });
    return;
  }
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
}

const port = Number(process.argv[2]);
server.listen({ host: "127.0.0.1", port, backlog: 2048 });
process.on("SIGTERM", () => process.exit(0));
