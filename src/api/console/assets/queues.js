// holdline queue list: keeps the waiting / longest wait / agents columns current, redrawn from
// /wallboard-data/status whenever the live event feed says `changed` (and every few seconds
// for changes that log no event). Without JavaScript the page shows the counts as loaded.
(function () {
  "use strict";
  var pending = false;
  var again = false;
  // The newest event the feed has told of (see wallboard.js): figures at least that new.
  var seq = 0;
  function refresh() {
    if (pending) { again = true; return; }
    pending = true;
    again = false;
    fetch("/wallboard-data/status?seq=" + seq, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok || r.redirected) throw 0; return r.json(); })
      .then(function (list) {
        list.forEach(function (st) {
          var row = document.getElementById("row-" + st.queue);
          if (!row) return;
          var agents = st.agents || [];
          var available = agents.filter(function (a) { return a.state === "available"; }).length;
          row.querySelector(".waiting").textContent = String(st.calls_waiting);
          row.querySelector(".longest").textContent = st.longest_wait_secs + " s";
          row.querySelector(".available").textContent = available + " / " + agents.length;
        });
      })
      .catch(function () {})
      .then(function () { pending = false; if (again) refresh(); });
  }
  // `changed` at most once a second, its id the newest event's sequence number.
  var feed = new EventSource("/wallboard-data/feed");
  feed.addEventListener("changed", function (e) {
    var n = parseInt(e.lastEventId, 10);
    if (n > seq) seq = n;
    refresh();
  });
  setInterval(refresh, 5000);
})();
