// holdline wallboard: draws /wallboard-data/status and redraws it whenever the live event feed
// (Server-Sent Events, /wallboard-data/feed) says `changed` (at most once a second).
// EventSource reconnects by itself; the board also redraws every few seconds, for changes that
// log no event (an agent's DND set through the API, a registration). Longest waits tick locally
// between redraws.
(function () {
  "use strict";
  var board = document.getElementById("board");
  var queue = board.getAttribute("data-queue") || "";
  var q = queue ? "?queue=" + encodeURIComponent(queue) : "";
  var fetchedAt = 0;
  var pending = false;
  // At most two fetches of the figures a second, however often the feed speaks (it says
  // `changed` once a second at most); an event during a fetch or within the gap is not lost:
  // one more fetch follows.
  var MIN_GAP_MS = 500;
  var lastFetch = 0;
  // The newest event the feed has told of: the server answers with figures at least as new,
  // computed once for every screen that asks.
  var seq = 0;
  var again = false;
  var timer = null;
  var STATES = ["available", "ringing", "on-call", "wrap-up", "dnd", "opted-out", "offline"];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function mmss(secs) {
    var m = Math.floor(secs / 60), s = secs % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function draw(list) {
    fetchedAt = Date.now();
    board.textContent = "";
    if (list.length === 0) board.appendChild(el("p", "muted", "No queues."));
    list.forEach(function (st) {
      var tile = el("section", "tile");
      tile.setAttribute("data-queue", st.queue);
      tile.appendChild(el("h2", "", st.name));
      var big = el("div", "bignums");
      var w = el("div", "big");
      var wn = el("span", "n waiting", String(st.calls_waiting));
      wn.id = "waiting-" + st.queue;
      w.appendChild(wn);
      w.appendChild(el("span", "label", "waiting"));
      big.appendChild(w);
      var l = el("div", "big");
      var ln = el("span", "n longest", mmss(st.longest_wait_secs));
      ln.setAttribute("data-base", String(st.longest_wait_secs));
      ln.setAttribute("data-live", st.calls_waiting > 0 ? "1" : "0");
      l.appendChild(ln);
      l.appendChild(el("span", "label", "longest wait"));
      big.appendChild(l);
      tile.appendChild(big);
      var counts = {};
      (st.agents || []).forEach(function (a) { counts[a.state] = (counts[a.state] || 0) + 1; });
      var states = el("ul", "states");
      STATES.forEach(function (s) {
        var li = el("li", "state " + s);
        li.appendChild(el("span", "n", String(counts[s] || 0)));
        li.appendChild(el("span", "label", s));
        states.appendChild(li);
      });
      tile.appendChild(states);
      // Today's offered / answered / abandoned, average wait and service level, as the server
      // formatted them from /api/v1/wallboard (today_shown: [label, text] pairs); "–" without.
      var today = el("ul", "today");
      var shown = st.today_shown || [["offered", "–"], ["answered", "–"], ["abandoned", "–"],
        ["average wait", "–"], ["service level", "–"]];
      shown.forEach(function (pair) {
        var li = el("li", "stat");
        li.setAttribute("data-stat", pair[0]);
        var n = el("span", "n", String(pair[1]));
        n.id = "today-" + pair[0].replace(" ", "-") + "-" + st.queue;
        li.appendChild(n);
        li.appendChild(el("span", "label", pair[0]));
        today.appendChild(li);
      });
      tile.appendChild(today);
      board.appendChild(tile);
    });
  }

  function refresh() {
    if (pending) { again = true; return; }
    if (timer) return;
    var wait = lastFetch + MIN_GAP_MS - Date.now();
    if (wait > 0) {
      timer = setTimeout(function () { timer = null; refresh(); }, wait);
      return;
    }
    pending = true;
    again = false;
    lastFetch = Date.now();
    var url = "/wallboard-data/status?seq=" + seq + (queue ? "&queue=" + encodeURIComponent(queue) : "");
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401 || r.status === 403 || r.redirected) { location.href = "/sign-in"; throw 0; }
        return r.json();
      })
      .then(draw)
      .catch(function () {})
      .then(function () {
        pending = false;
        if (again) refresh();
      });
  }

  function tick() {
    var secs = Math.floor((Date.now() - fetchedAt) / 1000);
    var cells = board.querySelectorAll(".longest");
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].getAttribute("data-live") === "1") {
        cells[i].textContent = mmss(parseInt(cells[i].getAttribute("data-base"), 10) + secs);
      }
    }
  }

  var feed = new EventSource("/wallboard-data/feed" + q);
  // One `changed` a second at most, however busy the queue (the server coalesces the log's
  // events), its id the newest event's sequence number.
  feed.addEventListener("changed", function (e) {
    var n = parseInt(e.lastEventId, 10);
    if (n > seq) seq = n;
    refresh();
  });
  feed.addEventListener("open", refresh);
  refresh();
  setInterval(tick, 1000);
  setInterval(refresh, 5000);
})();
