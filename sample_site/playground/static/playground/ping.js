/* The ping page: ping gets pong, pong gets ping, anything else gets no answer. */
(function () {
  "use strict";

  var input = document.getElementById("message");
  var socket = playground.connect();

  function send(text) {
    socket.send(text);
    playground.log("out", ["→ ", playground.span("text", text)]);
  }

  socket.on("message", function (event) {
    playground.log("in", ["← ", playground.span("text", String(event.data))]);
  });

  document.getElementById("ping").addEventListener("click", function () {
    send("ping");
  });
  document.getElementById("pong").addEventListener("click", function () {
    send("pong");
  });
  document.getElementById("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!input.value) return;
    send(input.value);
    input.value = "";
  });
})();
