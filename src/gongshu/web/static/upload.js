// Byte progress for file uploads (gongshu). A form with data-upload-progress="<id of a
// <progress>>" is sent with XMLHttpRequest so that the bar follows the bytes sent; the page the
// server answers with (a redirect's target, or the form again with its errors) is then shown as
// if the form had been posted normally. Without JavaScript the form posts as usual.
"use strict";

(function () {
  function megabytes(n) {
    return (n / 1048576).toFixed(1);
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return key in values ? String(values[key]) : whole;
    });
  }

  function attach(form) {
    if (form.dataset.uploadAttached) return;
    form.dataset.uploadAttached = "1";
    var bar = document.getElementById(form.dataset.uploadProgress);
    var label = document.getElementById(form.dataset.uploadProgress + "-label");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) return;
      event.preventDefault();
      var button = form.querySelector("button:not([type=button])");
      if (button) button.disabled = true;
      if (bar) {
        bar.hidden = false;
        bar.removeAttribute("value");  // indeterminate until the first progress event
      }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable || !bar) return;
        bar.max = e.total;
        bar.value = e.loaded;
        bar.dataset.loaded = String(e.loaded);
        if (label) {
          label.textContent = fill(form.dataset.uploadText || "{percent}%", {
            percent: Math.floor((e.loaded * 100) / e.total),
            loaded: megabytes(e.loaded),
            total: megabytes(e.total),
          });
        }
      });
      xhr.upload.addEventListener("load", function () {
        if (label && form.dataset.uploadDone) label.textContent = form.dataset.uploadDone;
      });
      xhr.addEventListener("load", function () {
        var posted = new URL(form.action, window.location.href).href;
        if (xhr.responseURL && xhr.responseURL !== posted) {
          window.location.assign(xhr.responseURL);  // followed a redirect: go there
          return;
        }
        document.open();  // the form again, with its errors (or an error page)
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () {
        if (button) button.disabled = false;
        if (bar) bar.hidden = true;
        if (label) label.textContent = form.dataset.uploadError || "";
      });
      xhr.send(new FormData(form));
    });
  }

  function attachAll() {
    var forms = document.querySelectorAll("form[data-upload-progress]");
    for (var i = 0; i < forms.length; i++) attach(forms[i]);
  }

  document.addEventListener("DOMContentLoaded", attachAll);
  // forms that htmx swaps in later (the outcome of an ingest, when its job has finished)
  document.addEventListener("htmx:afterSettle", attachAll);
})();
