/* The ping page: ping gets pong, pong gets ping, anything else gets no answer.
 *
 * What waits for the connection is in the log as pending and goes out once it
 * is back. The ping server answers nothing but ping and pong, so for anything
 * else "sent" is all the page can know: the text leaves its box once it is on
 * its way, not before.
 */
(function () {
  "use strict";

  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var sendButton = document.getElementById("send");
  var errors = playground.errorBox(form);
  var socket = playground.connect();
  var waiting = []; // [{data, item, fromInput}], in the order of djws.js's queue

  socket.on("message", function (event) {
    playground.log("in", ["← ", playground.bdi("text", String(event.data))]);
  });

  socket.on("sent", function (event) {
    if (event.queued && waiting.length && waiting[0].data === event.data) {
      var entry = waiting.shift();
      playground.settle(entry.item);
      if (entry.fromInput) done(entry, false);
    }
  });

  function done(entry, keepText) {
    if (!keepText && input.value === entry.data) input.value = "";
    playground.setBusy(input, [sendButton], false);
    input.focus();
  }

  function send(text, fromInput) {
    var queued;
    try {
      queued = !socket.send(text);
    } catch (error) {
      errors.show(error.message, fromInput ? input : null);
      return;
    }
    var parts = ["→ ", playground.bdi("text", text)];
    if (!queued) {
      playground.log("out", parts);
      if (fromInput) input.value = "";
      return;
    }
    var entry = { data: text, fromInput: fromInput };
    entry.item = playground.pending("out", parts, "waiting", function () {
      if (socket.cancel(entry.data)) {
        waiting.splice(waiting.indexOf(entry), 1);
        entry.item.remove();
        if (entry.fromInput) done(entry, true);
      }
    });
    waiting.push(entry);
    if (fromInput) playground.setBusy(input, [sendButton], true);
  }

  input.addEventListener("input", function () {
    playground.checkText(input, null, null);
  });
  document.getElementById("ping").addEventListener("click", function () {
    send("ping", false);
  });
  document.getElementById("pong").addEventListener("click", function () {
    send("pong", false);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.readOnly) return; // its text is waiting to be sent
    errors.clear();
    send(input.value, true);
  });
})();
