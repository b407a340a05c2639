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

// ---------------------------------------------------------------------------
// Drafting (/correspondence/new, /correspondence/ID/edit). Without this
// part the form works as it is: the recipient search goes with the form
// and comes back as checkboxes, the priority's due date is the server's
// when the field is empty, and the files go with the form. With it:
//  - the registries are found as one types (GET /registries/search?q=);
//  - the due date follows the priority until the user picks another;
//  - files may be dropped on the drop zone; each is checked against the
//    limits before it is sent and gets a <progress class="upload-progress">.
//    On a draft's edit page each file is sent at once to
//    POST /correspondence/ID/attachments. On a new letter's page the form
//    is first saved without its files (Accept: application/json answers
//    {id, entry_id}), then each file is sent there, then the browser goes
//    to the new entry (or, when a file failed, to the draft's edit page).
//    When the form itself is refused, it is sent the plain way (with the
//    files accepted), and the page comes back with the errors next to the
//    fields.
(function () {
  var form = document.getElementById("draft-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var csrf = form.getAttribute("data-csrf");
  var draftID = form.getAttribute("data-draft-id");
  var input = document.getElementById("attachments");
  var zone = document.getElementById("drop-zone");
  var list = document.getElementById("upload-list");
  var maxFile = Number(zone && zone.getAttribute("data-max-file")) || 0;
  var maxLetter = Number(zone && zone.getAttribute("data-max-letter")) || 0;

  function say(attr, name) {
    return (zone.getAttribute(attr) || "").replace("%NAME%", name);
  }

  // The due date follows the priority while it holds the default of the
  // priority before (an empty one is the server's default anyway), and the
  // hint marks the default of the priority chosen.
  var prio = document.getElementById("priority");
  var due = document.getElementById("due_date");
  function markDefault() {
    var spans = document.querySelectorAll(".due-default");
    for (var i = 0; i < spans.length; i++) {
      spans[i].classList.toggle("current", spans[i].getAttribute("data-priority") === prio.value);
    }
  }
  if (prio && due) {
    var shown = due.getAttribute("data-default-" + prio.value);
    markDefault();
    prio.addEventListener("change", function () {
      var next = due.getAttribute("data-default-" + prio.value);
      if (due.value !== "" && due.value === shown) {
        due.value = next || "";
      }
      shown = next;
      markDefault();
    });
  }

  // The recipient picker: search as one types.
  var search = document.getElementById("recipient-search");
  var results = document.getElementById("recipient-results");
  var timer = null;
  var asked = 0;
  function chosen(code) {
    var sender = document.getElementById("sender_registry");
    if (sender && sender.value === code) {
      return true; // a letter is not sent to itself
    }
    var boxes = form.querySelectorAll("#recipient-chosen input[type=checkbox]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].value === code) {
        return true;
      }
    }
    return false;
  }
  function cell(row, name, code, label) {
    var td = document.createElement("td");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = name;
    box.value = code;
    box.setAttribute("aria-label", label + " " + code);
    td.appendChild(box);
    row.appendChild(td);
  }
  function showFound(items) {
    var lang = document.documentElement.lang;
    var table = document.createElement("table");
    table.className = "recipients";
    table.createCaption().textContent = results.getAttribute("data-found");
    var head = table.createTHead().insertRow();
    ["data-registry", "data-to", "data-cc"].forEach(function (a) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = results.getAttribute(a);
      head.appendChild(th);
    });
    var body = table.createTBody();
    items.forEach(function (it) {
      if (chosen(it.code)) {
        return;
      }
      var row = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      var code = document.createElement("span");
      code.className = "num";
      code.dir = "ltr";
      code.textContent = it.code;
      th.appendChild(code);
      th.appendChild(document.createTextNode(" " + (lang === "ar" ? it.name_ar : it.name_en)));
      row.appendChild(th);
      cell(row, "recipients", it.code, results.getAttribute("data-to"));
      cell(row, "recipients_cc", it.code, results.getAttribute("data-cc"));
    });
    results.textContent = "";
    if (body.rows.length) {
      results.appendChild(table);
    }
  }
  if (search && results) {
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = search.value.trim();
        var n = ++asked;
        if (q === "") {
          results.textContent = "";
          return;
        }
        var x = new XMLHttpRequest();
        x.open("GET", "/registries/search?q=" + encodeURIComponent(q));
        x.setRequestHeader("Accept", "application/json");
        x.onload = function () {
          if (n === asked && x.status === 200) {
            showFound(JSON.parse(x.responseText).items || []);
          }
        };
        x.send();
      }, 250);
    });
    search.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        ev.preventDefault(); // searching, not sending the form
      }
    });
  }

  if (!input || !zone || !list) {
    return;
  }

  // Files: checked against the limits, each with its progress bar.
  var pending = [];
  function addFile(f) {
    var li = document.createElement("li");
    var name = document.createElement("bdi");
    name.className = "file-name";
    name.textContent = f.name;
    li.appendChild(name);
    var total = pending.reduce(function (s, p) { return s + p.file.size; }, 0);
    if ((maxFile > 0 && f.size > maxFile) || (maxLetter > 0 && total + f.size > maxLetter)) {
      var err = document.createElement("p");
      err.className = "field-error";
      err.textContent = say("data-msg-too-large", f.name);
      li.appendChild(err);
      list.appendChild(li);
      return;
    }
    var bar = document.createElement("progress");
    bar.className = "upload-progress";
    bar.max = f.size || 1;
    bar.value = 0;
    bar.setAttribute("aria-label", f.name);
    li.appendChild(bar);
    list.appendChild(li);
    pending.push({ file: f, bar: bar, li: li });
  }
  function take(files) {
    for (var i = 0; i < files.length; i++) {
      addFile(files[i]);
    }
    if (draftID) {
      input.value = ""; // sent by this script, not with the form
      sendAll(draftID, function () {});
    } else if (window.DataTransfer) {
      // The file input holds every file accepted, dropped ones too, so
      // that the form sent the plain way carries them.
      var dt = new DataTransfer();
      pending.forEach(function (p) { dt.items.add(p.file); });
      input.files = dt.files;
    }
  }
  input.addEventListener("change", function () { take(input.files); });
  zone.addEventListener("dragover", function (ev) {
    ev.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    zone.classList.remove("over");
    if (ev.dataTransfer && ev.dataTransfer.files) {
      take(ev.dataTransfer.files);
    }
  });

  // sendAll sends the pending files one after another to draft id, then
  // calls done(ok).
  function sendAll(id, done) {
    var ok = true;
    function next() {
      var p = pending.shift();
      if (!p) {
        done(ok);
        return;
      }
      var fd = new FormData();
      fd.append("csrf_token", csrf);
      fd.append("file", p.file, p.file.name);
      var x = new XMLHttpRequest();
      x.open("POST", "/correspondence/" + id + "/attachments");
      x.setRequestHeader("Accept", "application/json");
      x.setRequestHeader("X-CSRF-Token", csrf);
      x.upload.onprogress = function (ev) {
        if (ev.lengthComputable) {
          p.bar.max = ev.total;
          p.bar.value = ev.loaded;
        }
      };
      x.onload = function () {
        if (x.status === 201) {
          p.bar.value = p.bar.max;
          p.li.classList.add("done");
        } else {
          failed(p, x);
          ok = false;
        }
        next();
      };
      x.onerror = function () {
        failed(p, null);
        ok = false;
        next();
      };
      x.send(fd);
    }
    next();
  }
  function failed(p, x) {
    var msg = say("data-msg-failed", p.file.name);
    try {
      msg = JSON.parse(x.responseText).error.message || msg;
    } catch (e) { /* not JSON: the general message */ }
    var err = document.createElement("p");
    err.className = "field-error";
    err.textContent = msg;
    p.li.appendChild(err);
  }

  // A new letter with files: saved first, then its files.
  form.addEventListener("submit", function (ev) {
    var op = ev.submitter && ev.submitter.name === "op";
    if (draftID || op || pending.length === 0) {
      return;
    }
    ev.preventDefault();
    var fd = new FormData(form);
    fd.delete("attachments");
    var x = new XMLHttpRequest();
    x.open("POST", form.getAttribute("action"));
    x.setRequestHeader("Accept", "application/json");
    x.setRequestHeader("X-CSRF-Token", csrf);
    x.onload = function () {
      if (x.status !== 201) {
        form.submit(); // the plain way: the page shows what is wrong
        return;
      }
      var d = JSON.parse(x.responseText);
      sendAll(d.id, function (ok) {
        window.location = ok ? "/entries/" + d.entry_id : "/correspondence/" + d.id + "/edit";
      });
    };
    x.onerror = function () { form.submit(); };
    x.send(fd);
  });
})();
