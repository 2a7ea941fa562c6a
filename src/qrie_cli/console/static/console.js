// qrie console: live job progress by short polling (every second while a job runs), and a
// confirmation before cancelling a job. Loaded from /static (the CSP allows no inline script);
// writes text with textContent only, never HTML.
(function () {
  "use strict";

  var POLL_MS = 1000;
  var IDLE_POLL_MS = 5000;
  var CLASSES = {
    IN_PROGRESS: "running", COMPLETED: "ok", COMPLETED_WITH_ERRORS: "warn", FAILED: "bad",
    CANCELLED: "muted", PENDING: "pending", SUCCEEDED: "ok"
  };

  function formatEta(seconds) {
    if (seconds === null || seconds === undefined) { return "–"; }
    var s = Math.round(seconds);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + two(m) + ":" + two(r) : two(m) + ":" + two(r);
  }

  function setText(root, field, value) {
    root.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) {
      el.textContent = value;
    });
  }

  function setStatus(root, status) {
    root.querySelectorAll('[data-field="status"]').forEach(function (el) {
      el.textContent = status;
      el.className = "status " + (CLASSES[status] || "");
    });
  }

  function updateProgress(root, job) {
    var total = job.total || 0;
    var ok = total ? (100 * job.succeeded) / total : 100;
    var ko = total ? (100 * job.failed) / total : 0;
    var okBar = root.querySelector('[data-bar="ok"]');
    var koBar = root.querySelector('[data-bar="ko"]');
    if (okBar) { okBar.setAttribute("width", ok.toFixed(3)); }
    if (koBar) { koBar.setAttribute("x", ok.toFixed(3)); koBar.setAttribute("width", ko.toFixed(3)); }
    root.setAttribute("data-status", job.status);
    setText(root, "percent", job.percent + "%");
    ["done", "total", "succeeded", "failed", "remaining"].forEach(function (f) {
      setText(root, f, String(job[f]));
    });
    setText(root, "rate", job.rate === null ? "–" : job.rate.toFixed(1));
    setText(root, "eta", job.status === "IN_PROGRESS" ? formatEta(job.eta) : "–");
  }

  // ---------------------------------------------------------------- polling
  var banner = null;
  function showProblem(error) {
    banner = banner || document.getElementById("live-problem");
    if (!banner) { return; }
    banner.textContent = (error.title || "Live updates stopped") + ": " + (error.message || "") +
      (error.hint ? " " + error.hint : "");
    banner.hidden = false;
  }
  function clearProblem() {
    banner = banner || document.getElementById("live-problem");
    if (banner) { banner.hidden = true; }
  }

  // Calls url() every interval() ms; onData returning false stops the polling.
  function poll(url, onData, interval) {
    function tick() {
      fetch(url(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) { return { ok: response.ok, body: body }; });
        })
        .then(function (result) {
          if (!result.ok) {
            showProblem(result.body.error || {});
            return true;
          }
          clearProblem();
          return onData(result.body);
        })
        .catch(function () {
          showProblem({
            title: "Connection lost",
            message: "the console does not answer.",
            hint: "Is `qrie console` still running? Updates resume when it does."
          });
          return true;
        })
        .then(function (again) {
          if (again !== false) { window.setTimeout(tick, interval()); }
        });
    }
    window.setTimeout(tick, interval());
  }

  // ---------------------------------------------------------------- job lists
  function liveJobTables() {
    var tables = document.querySelectorAll("[data-live-jobs]");
    if (!tables.length) { return; }
    var running = document.querySelector('.progress[data-status="IN_PROGRESS"]') !== null;
    poll(
      function () { return "/api/jobs"; },
      function (body) {
        running = false;
        body.jobs.forEach(function (job) {
          if (job.status === "IN_PROGRESS") { running = true; }
          var rows = document.querySelectorAll('tr[data-job-id="' + job.job_id + '"]');
          rows.forEach(function (row) {
            setStatus(row, job.status);
            var progress = row.querySelector(".progress");
            if (progress) { updateProgress(progress, job); }
          });
          if (!rows.length && job.status === "IN_PROGRESS") {
            document.querySelectorAll("[data-new-jobs]").forEach(function (el) { el.hidden = false; });
          }
        });
        return true;
      },
      function () { return running ? POLL_MS : IDLE_POLL_MS; }
    );
  }

  // ---------------------------------------------------------------- one job
  function cellOf(task) {
    var key = task.account_id + "/" + task.kind + "/" + task.service;
    return document.querySelector('td[data-task="' + key + '"]');
  }

  function updateCell(cell, task) {
    cell.setAttribute("data-status", task.status);
    cell.className = "cell " + (CLASSES[task.status] || "");
    cell.title = task.reason || "";
    var st = cell.querySelector(".st");
    if (st) { st.textContent = task.status; }
    var meta = cell.querySelector(".meta");
    if (meta) {
      var parts = [];
      if (task.attempts) { parts.push(task.attempts + (task.attempts > 1 ? " attempts" : " attempt")); }
      if (task.ended_after !== null && task.ended_after !== undefined) { parts.push("+" + task.ended_after + "s"); }
      meta.textContent = parts.join(" · ");
    }
  }

  function addFailure(task) {
    var body = document.querySelector("[data-failures]");
    if (!body) { return; }
    var key = task.account_id + "/" + task.kind + "/" + task.service;
    if (body.querySelector('tr[data-task="' + key + '"]')) { return; }
    var row = document.createElement("tr");
    row.setAttribute("data-task", key);
    [task.account_id, task.kind + " " + task.service, String(task.attempts), task.reason].forEach(
      function (value, index) {
        var td = document.createElement("td");
        td.textContent = value;
        if (index === 3) { td.className = "reason"; }
        row.appendChild(td);
      }
    );
    body.appendChild(row);
    document.querySelectorAll("[data-no-failures]").forEach(function (el) { el.hidden = true; });
  }

  function liveJob() {
    var head = document.querySelector("[data-live-job]");
    if (!head || head.getAttribute("data-status") !== "IN_PROGRESS") { return; }
    var jobId = head.getAttribute("data-live-job");
    var state = {
      epoch: head.getAttribute("data-epoch"),
      version: head.getAttribute("data-version"),
      first: head.getAttribute("data-first"),
      last: head.getAttribute("data-last")
    };
    poll(
      function () {
        var q = new URLSearchParams({ v: state.version, epoch: state.epoch, first: state.first, last: state.last });
        return "/api/jobs/" + encodeURIComponent(jobId) + "?" + q.toString();
      },
      function (body) {
        state.epoch = body.epoch;
        state.version = String(body.version);
        var job = body.job;
        body.tasks.forEach(function (task) {
          var cell = cellOf(task);
          if (cell) { updateCell(cell, task); }
          if (task.status === "FAILED") {
            if (cell) { addFailure(task); } else {
              document.querySelectorAll("[data-more-failures]").forEach(function (el) { el.hidden = false; });
            }
          }
        });
        head.querySelectorAll(".progress").forEach(function (p) { updateProgress(p, job); });
        setStatus(head, job.status);
        head.setAttribute("data-status", job.status);
        if (job.status === "IN_PROGRESS") { return true; }
        setText(head, "finished_at", job.finished_at ? job.finished_at.slice(0, 19) + "Z" : "");
        var cancel = document.getElementById("cancel-job");
        if (cancel) { cancel.closest("form").hidden = true; }
        if (job.failed > 0) {
          document.querySelectorAll('[data-show-when="retry"]').forEach(function (el) { el.hidden = false; });
        }
        return false;
      },
      function () { return POLL_MS; }
    );
  }

  // ---------------------------------------------------------------- confirmations
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmations();
    liveJobTables();
    liveJob();
  });
}());
