// The import page while a worker checks or commits the upload: ask for the status now and
// then, and reload the page (with the report) once the status changes.
(function () {
  "use strict";
  var progress = document.getElementById("import-progress");
  if (!progress) return;
  var shown = document.querySelector("[data-testid=import-status]").dataset.status;
  function poll() {
    fetch(progress.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status) return;
        if (status.status !== shown || (status.status === "ready" && !status.commit_requested)) {
          window.location.reload();
          return;
        }
        progress.textContent = progress.textContent.replace(/\d+/, String(status.rows_done));
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1500);
})();
