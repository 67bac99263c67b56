/* The echo page: send text or binary, see it come back. */
(function () {
  "use strict";

  var input = document.getElementById("message");
  var socket = playground.connect();

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (byte) {
      return byte.toString(16).padStart(2, "0");
    }).join(" ");
  }

  socket.on("message", function (event) {
    if (typeof event.data === "string") {
      playground.log("in", ["← ", playground.span("text", event.data)]);
    } else {
      var size = event.data.byteLength;
      playground.log("in binary", [
        "← ",
        playground.span("text", size + (size === 1 ? " byte: " : " bytes: ") + hex(event.data)),
      ]);
    }
  });

  document.getElementById("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!input.value) return;
    socket.send(input.value);
    playground.log("out", ["→ ", playground.span("text", input.value)]);
    input.value = "";
  });

  document.getElementById("send-binary").addEventListener("click", function () {
    if (!input.value) return;
    var bytes = new TextEncoder().encode(input.value);
    socket.send(bytes);
    playground.log("out binary", ["→ ", playground.span("text", bytes.length + " bytes: " + hex(bytes))]);
    input.value = "";
  });
})();
