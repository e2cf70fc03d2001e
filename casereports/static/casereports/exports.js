// The exports page: live progress of queued and running jobs.
// Each job row carries data-status-url; while a job is queued or running its status JSON is
// fetched every second and the row (status, progress bar, rows, size, sha256, error, buttons)
// is brought up to date. No inline script or style: widths are set through element.style,
// which the Content-Security-Policy allows.
(function () {
  "use strict";

  var POLL_MS = 1000;
  var ACTIVE = { queued: true, running: true };
  var BADGES = ["text-bg-secondary", "text-bg-primary", "text-bg-success", "text-bg-danger",
    "text-bg-warning"];

  function part(row, role) {
    return row.querySelector('[data-role="' + role + '"]');
  }

  function showProgress(row, percent, finished) {
    var progress = part(row, "progress");
    var bar = part(row, "progress-bar");
    if (!progress || !bar) return;
    var value = Math.max(0, Math.min(100, Number(percent) || 0));
    progress.setAttribute("aria-valuenow", String(value));
    bar.style.width = value + "%";
    bar.textContent = value + "%";
    bar.classList.toggle("progress-bar-striped", !finished);
    bar.classList.toggle("progress-bar-animated", !finished);
  }

  function showRowCounts(cell, counts) {
    if (!cell) return;
    cell.textContent = "";
    Object.keys(counts || {}).forEach(function (name) {
      var line = document.createElement("div");
      line.className = "small";
      var code = document.createElement("code");
      code.textContent = name;
      line.appendChild(code);
      line.appendChild(document.createTextNode(": " + counts[name]));
      cell.appendChild(line);
    });
  }

  function update(row, status) {
    row.setAttribute("data-job-status", status.status);
    var badge = part(row, "status");
    if (badge) {
      BADGES.forEach(function (name) { badge.classList.remove(name); });
      badge.classList.add(status.badge_class);
      badge.textContent = status.status_label;
    }
    showProgress(row, status.progress, status.finished);
    var rows = part(row, "rows-progress");
    if (rows) rows.textContent = status.rows_done + " of " + status.rows_total + " rows";
    showRowCounts(part(row, "row-counts"), status.row_counts);
    var size = part(row, "size");
    if (size) size.textContent = status.file_size_label;
    var sha = part(row, "sha256");
    if (sha) sha.textContent = status.sha256;
    var error = part(row, "error");
    if (error) {
      error.textContent = status.error;
      error.hidden = !status.error;
    }
    var download = part(row, "download");
    if (download) {
      if (status.download_url) download.setAttribute("href", status.download_url);
      download.hidden = status.status !== "done";
    }
    var cancel = part(row, "cancel");
    if (cancel) cancel.hidden = status.finished;
  }

  function poll(row) {
    var url = row.getAttribute("data-status-url");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.ok) return response.json();
        if (response.status >= 400 && response.status < 500) return null; // gone or refused
        throw new Error("status " + response.status);
      })
      .then(function (status) {
        if (status === null) return;
        update(row, status);
        if (!status.finished) window.setTimeout(function () { poll(row); }, POLL_MS);
      })
      .catch(function () {
        // A lost connection or an expired session: try again, more slowly.
        window.setTimeout(function () { poll(row); }, POLL_MS * 5);
      });
  }

  function start() {
    var rows = document.querySelectorAll("[data-job-id][data-status-url]");
    Array.prototype.forEach.call(rows, function (row) {
      var progress = part(row, "progress");
      var status = row.getAttribute("data-job-status");
      showProgress(row, progress ? progress.getAttribute("data-progress") : 0, !ACTIVE[status]);
      if (ACTIVE[status]) window.setTimeout(function () { poll(row); }, POLL_MS);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
