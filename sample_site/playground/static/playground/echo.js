/* The echo page: send text or binary, see it come back.
 *
 * The text stays in its box until its echo is back: the server has had it.
 * Meanwhile it is in the log as pending ("waiting for the connection", then
 * "sending…"); if the connection closes before the echo, the log says so.
 */
(function () {
  "use strict";

  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var buttons = [document.getElementById("send-text"), document.getElementById("send-binary")];
  var errors = playground.errorBox(form);
  var draft = null; // {data, text, item, state}: one message at a time
  var socket = playground.connect();

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (byte) {
      return byte.toString(16).padStart(2, "0");
    }).join(" ");
  }

  function describe(data) {
    if (typeof data === "string") return data;
    var size = data.byteLength;
    return size + (size === 1 ? " byte: " : " bytes: ") + hex(data);
  }

  function same(received, sent) {
    if (typeof received === "string" || typeof sent === "string") return received === sent;
    return hex(received) === hex(sent.buffer.slice(sent.byteOffset, sent.byteOffset + sent.byteLength));
  }

  function finish(keepText) {
    if (!keepText && input.value === draft.text) input.value = "";
    draft = null;
    playground.setBusy(input, buttons, false);
    input.focus();
  }

  input.addEventListener("input", function () {
    playground.checkText(input, null, null);
  });

  socket.on("message", function (event) {
    var binary = typeof event.data !== "string";
    if (draft !== null && draft.state === "sending" && same(event.data, draft.data)) {
      playground.settle(draft.item);
      finish(false);
    }
    playground.log(binary ? "in binary" : "in", ["← ", playground.bdi("text", describe(event.data))]);
  });

  socket.on("sent", function (event) {
    if (draft !== null && event.data === draft.data) {
      draft.state = "sending";
      playground.setPending(draft.item, "sending");
    }
  });

  socket.on("close", function (event) {
    if (draft !== null && draft.state === "sending") {
      playground.setPending(draft.item, "failed", "no echo: the connection closed first");
      draft.item.classList.remove("pending");
      finish(true); // the text is still in the box, to send again
      errors.show(
        "No echo came back: the connection closed (" + event.description + "). " +
          "Your message is still in the box: send it again once connected."
      );
    }
  });

  function send(binary) {
    if (draft !== null) return;
    if (!playground.checkText(input, null, null) || !form.reportValidity()) return;
    errors.clear();
    var text = input.value;
    var data = binary ? new TextEncoder().encode(text) : text;
    var queued;
    try {
      queued = !socket.send(data);
    } catch (error) {
      errors.show(error.message, input);
      return;
    }
    draft = { data: data, text: text, state: queued ? "waiting" : "sending" };
    draft.item = playground.pending(
      binary ? "out binary" : "out",
      ["→ ", playground.bdi("text", describe(binary ? data.buffer : data))],
      draft.state,
      function () {
        if (draft !== null && socket.cancel(draft.data)) {
          draft.item.remove();
          finish(true);
        }
      }
    );
    playground.setBusy(input, buttons, true);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    send(false);
  });
  document.getElementById("send-binary").addEventListener("click", function () {
    send(true);
  });
})();
