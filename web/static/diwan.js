// Diwan's little script. Every page works without it; it adds
// confirmations on buttons that ask for one (data-confirm), and the pages
// that need more (uploads) add their parts below. No inline script: the
// Content-Security-Policy allows scripts from this file only.
"use strict";
document.addEventListener("submit", function (ev) {
  var b = ev.submitter;
  var msg = (b && b.getAttribute("data-confirm")) || ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});
