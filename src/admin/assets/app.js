/*
 * app.js - the live status page: polls GET api/status and draws it.
 *
 * Owns: polling (every 2 s, slower while the tab is hidden, backing off
 * after errors), the bearer token (asked for when the API answers 401,
 * kept in sessionStorage only), the queue's page and target filter, and
 * POST api/retry. Must not: build markup from strings. Every value from
 * the server reaches the DOM through textContent or setAttribute, because
 * file and user names come from FTP clients ("<script>", quotes, control
 * characters, any UTF-8).
 *
 * Stable hooks for tests and scripts: [data-target=NAME][data-state],
 * [data-received-path], [data-job-path][data-job-state], [data-push-path],
 * #conn[data-conn]. URLs are relative, so the page also works behind a
 * reverse proxy that mounts it under a prefix.
 */
"use strict";

(function () {
	var POLL_MS = 2000;          /* the refresh rate */
	var HIDDEN_MS = 30000;       /* a hidden tab still notices a restart */
	var MAX_BACKOFF_MS = 30000;
	var REQUEST_TIMEOUT_MS = 8000;
	var PAGE_SIZE = 50;          /* the API's default limit */
	var TOKEN_KEY = "relayftpd.token";
	var STATES = { up: "up", backoff: "backing off", failing: "failing" };

	var st = {
		offset: 0,
		target: "",
		timer: null,
		ctrl: null,
		failures: 0,
		lastOk: 0,
		locked: false,
		toastTimer: null,
	};

	function $(id) {
		return document.getElementById(id);
	}

	/* --- the token: this tab only (sessionStorage), never a cookie, so
	 * no other site can make the browser send it. */

	function getToken() {
		try {
			return sessionStorage.getItem(TOKEN_KEY) || "";
		} catch (e) {
			return "";
		}
	}

	function setToken(value) {
		try {
			if (value)
				sessionStorage.setItem(TOKEN_KEY, value);
			else
				sessionStorage.removeItem(TOKEN_KEY);
		} catch (e) {
			/* storage disabled: the token lives until the reload */
		}
		st.memToken = value;
		$("forget-token").hidden = !value;
	}

	/* A header's value is bytes, and fetch takes each character of the
	 * string for one (Latin-1) and refuses any beyond U+00FF: a token
	 * with "ö" went as one byte, not the two of token_file's UTF-8, and
	 * was refused; one with "€" never left the page, which then said the
	 * server was unreachable. Its UTF-8 bytes, one character each, are
	 * what token_file holds. */
	function headerBytes(s) {
		var bytes = new TextEncoder().encode(s);
		var out = "";
		for (var i = 0; i < bytes.length; i++)
			out += String.fromCharCode(bytes[i]);
		return out;
	}

	function authHeaders(extra) {
		var h = extra || {};
		var t = getToken() || st.memToken || "";
		if (t)
			h.Authorization = "Bearer " + headerBytes(t);
		return h;
	}

	/* --- small DOM and formatting helpers */

	/* el("td", {class: "num", "data-x": v}, child...): children that are
	 * strings or numbers become text nodes; attributes go through
	 * setAttribute. Nothing is ever parsed as HTML. */
	function el(tag, attrs) {
		var node = document.createElement(tag);
		var k, i, c;
		for (k in attrs || {}) {
			if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false)
				node.setAttribute(k, String(attrs[k]));
		}
		for (i = 2; i < arguments.length; i++) {
			c = arguments[i];
			if (c === null || c === undefined || c === false || c === "")
				continue;
			node.appendChild(typeof c === "object" ? c :
			    document.createTextNode(String(c)));
		}
		return node;
	}

	function setText(id, text) {
		var n = $(id);
		if (n.textContent !== text)
			n.textContent = text;
	}

	function num(v) {
		return typeof v === "number" && isFinite(v) ? v : 0;
	}

	function str(v) {
		return typeof v === "string" ? v : "";
	}

	/* Control characters (C0, DEL, C1), line and paragraph separators and
	 * bidirectional marks and overrides in a name are shown as escapes
	 * (\n, \x85, U+2028, U+202E), so a name cannot fake a line break or
	 * a blank, or turn "evil.exe" around; text() marks each escape with a
	 * span of class "ctl", visible() (for option labels and messages)
	 * leaves them plain. */
	var CTL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

	function escapeCtl(c) {
		var code = c.charCodeAt(0);
		var named = { 9: "\\t", 10: "\\n", 13: "\\r" };
		var hex = code.toString(16).toUpperCase();
		if (named[code])
			return named[code];
		if (code < 0x100)
			return "\\x" + (hex.length < 2 ? "0" : "") + hex;
		return "U+" + ("0000" + hex).slice(-4);
	}

	function visible(s) {
		return str(s).replace(CTL, escapeCtl);
	}

	/* A DocumentFragment of s as text nodes, each control character an
	 * escape in <span class="ctl">. */
	function text(s) {
		var frag = document.createDocumentFragment();
		var last = 0;
		var m;
		s = str(s);
		CTL.lastIndex = 0;
		while ((m = CTL.exec(s)) !== null) {
			if (m.index > last)
				frag.appendChild(document.createTextNode(s.slice(last, m.index)));
			frag.appendChild(el("span", { class: "ctl",
			    title: "control character in the name" }, escapeCtl(m[0])));
			last = m.index + 1;
		}
		if (last < s.length)
			frag.appendChild(document.createTextNode(s.slice(last)));
		return frag;
	}

	function fmtBytes(n) {
		var units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
		var i = -1;
		n = num(n);
		if (n < 1024)
			return n + " B";
		do {
			n /= 1024;
			i++;
		} while (n >= 1024 && i < units.length - 1);
		return (n < 100 ? n.toFixed(1) : Math.round(n)) + " " + units[i];
	}

	function fmtCount(n) {
		return num(n).toLocaleString("en-US");
	}

	function fmtDuration(s) {
		s = Math.max(0, Math.floor(num(s)));
		if (s < 60)
			return s + " s";
		if (s < 3600)
			return Math.floor(s / 60) + " min " + (s % 60) + " s";
		if (s < 86400)
			return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
		return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
	}

	function parseTime(iso) {
		var t = typeof iso === "string" ? Date.parse(iso) : NaN;
		return isFinite(t) ? t : null;
	}

	/* Local wall time, with the date when it is not today's. */
	function fmtClock(ms) {
		var d = new Date(ms);
		var now = new Date();
		var pad = function (x) { return (x < 10 ? "0" : "") + x; };
		var time = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" +
		    pad(d.getSeconds());
		if (d.toDateString() === now.toDateString())
			return time;
		return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" +
		    pad(d.getDate()) + " " + time;
	}

	/* <time> for an ISO string; "ago" is measured against the server's
	 * "now", so a wrong clock on the viewer's machine does not matter. */
	function timeEl(iso, serverNow, withAgo) {
		var t = parseTime(iso);
		if (t === null)
			return el("span", { class: "muted" }, "–");
		var label = fmtClock(t);
		if (withAgo && serverNow !== null)
			label += " (" + fmtDuration((serverNow - t) / 1000) + " ago)";
		return el("time", { datetime: iso, title: iso }, label);
	}

	function badge(state) {
		var known = Object.prototype.hasOwnProperty.call(STATES, state);
		return el("span", { class: "badge state-" + (known ? state : "unknown") },
		    known ? STATES[state] : visible(state || "unknown"));
	}

	/* --- drawing */

	function renderHeader(d) {
		var srv = d.server || {};
		var up = srv.uploads || {};
		var down = srv.downloads || {};
		setText("version", d.version ? "v" + str(d.version) : "");
		setText("uptime", fmtDuration(d.uptime_s));
		$("uptime").title = d.started ? "since " + str(d.started) : "";
		setText("s-sessions", fmtCount(srv.sessions_open));
		setText("s-logins", fmtCount(srv.logins_ok) + " / " + fmtCount(srv.logins_failed));
		setText("s-uploads", fmtCount(up.completed) + " · " + fmtBytes(up.bytes));
		$("s-uploads").title = fmtCount(up.aborted) + " aborted";
		setText("s-downloads", fmtCount(down.completed) + " · " + fmtBytes(down.bytes));
		$("s-downloads").title = fmtCount(down.aborted) + " aborted";
		setText("s-quota", fmtCount(srv.quota_refused));
		setText("s-bans", fmtCount(srv.bans_active));
		setText("server-time", d.now ? "server time " + str(d.now) : "");
	}

	/* A queue fact: null when the daemon could not read its queue. */
	function fact(v) {
		return typeof v === "number" && isFinite(v) ? fmtCount(v) : "–";
	}

	function count(label, value, key) {
		return el("div", { class: "count-" + key },
		    el("dt", null, label), el("dd", { "data-count": key }, value));
	}

	function targetCard(t, serverNow) {
		var name = str(t.name);
		var state = str(t.state) || "unknown";
		var card = el("article", { class: "card state-" + state,
		    "data-target": name, "data-state": state });
		var err = str(t.last_error);
		var retryAt = parseTime(t.retry_at);
		var since = parseTime(t.failing_since);
		var notes = [];

		card.appendChild(el("header", null,
		    el("h3", null, text(name)), badge(state)));
		if (t.url)
			card.appendChild(el("p", { class: "url", title: str(t.url) },
			    text(t.url)));
		card.appendChild(el("dl", { class: "counts" },
		    count("queued", fact(t.queued), "queued"),
		    count("running", fact(t.running), "running"),
		    count("parked", fact(t.parked), "parked"),
		    count("oldest", num(t.queued) + num(t.running) + num(t.parked) > 0 ?
			fmtDuration(t.oldest_age_s) : "–", "oldest")));
		card.appendChild(el("p", { class: "stats" },
		    fmtBytes(t.bytes_pushed) + " pushed · " +
		    fmtCount(t.successes) + " ok · " + fmtCount(t.failures) + " failed" +
		    (num(t.verify_failures) ? " · " + fmtCount(t.verify_failures) +
			" verify failure" + (num(t.verify_failures) === 1 ? "" : "s") : "")));
		if (state !== "up" && since !== null && serverNow !== null)
			notes.push("failing for " + fmtDuration((serverNow - since) / 1000));
		if (state !== "up" && retryAt !== null && serverNow !== null)
			notes.push(retryAt > serverNow ? "next try in " +
			    fmtDuration((retryAt - serverNow) / 1000) : "retrying now");
		else if (state !== "up" && num(t.queued) === 0 && num(t.parked) > 0)
			notes.push("parked: nothing is tried until Retry");
		if (notes.length)
			card.appendChild(el("p", { class: "note" }, notes.join(" · ")));
		/* A target that is up again keeps its last error on show, but
		 * muted: it is history, the delivery after it is the news. One
		 * up that failed since its last delivery (a file it keeps
		 * refusing) has news in the error (found from outside). */
		var okAt = parseTime(t.last_ok_at), errAt = parseTime(t.last_error_at);
		/* Times are whole seconds: an error in the second of the last
		 * delivery may be the later event. One of no known time (a
		 * queue from before the times were kept) before a delivery. */
		var past = state === "up" && okAt !== null &&
		    (errAt === null || errAt < okAt);
		if (t.last_ok_at && (state === "up" || !err))
			card.appendChild(el("p", { class: "note ok" }, "last delivery ",
			    timeEl(t.last_ok_at, serverNow, true)));
		if (err) {
			card.appendChild(el("div", { class: "last-error" +
			    (past ? " past" : ""), "data-last-error": "" },
			    el("span", { class: "label" },
				past ? "earlier error " : "last error "),
			    timeEl(t.last_error_at, serverNow, true),
			    el("p", null, text(err))));
		}
		if (num(t.parked) > 0) {
			card.appendChild(el("button", { type: "button", class: "retry",
			    "data-retry": name },
			    "Retry " + fmtCount(t.parked) + " parked"));
		}
		return card;
	}

	function renderTargets(d, serverNow) {
		var list = Array.isArray(d.targets) ? d.targets : [];
		var box = $("targets");
		var focused = document.activeElement &&
		    document.activeElement.getAttribute("data-retry");
		box.replaceChildren.apply(box, list.map(function (t) {
			return targetCard(t, serverNow);
		}));
		$("targets-empty").hidden = list.length > 0;
		if (focused !== null && focused !== undefined) {
			var again = Array.prototype.find.call(
			    box.querySelectorAll("[data-retry]"),
			    function (b) { return b.getAttribute("data-retry") === focused; });
			if (again)
				again.focus();
		}

		/* The filter lists every target; the chosen one stays chosen. */
		var sel = $("job-target");
		var names = list.map(function (t) { return str(t.name); });
		var have = Array.prototype.slice.call(sel.options, 1).map(
		    function (o) { return o.value; });
		if (names.join("\n") !== have.join("\n")) {
			if (st.target && names.indexOf(st.target) < 0)
				names.push(st.target);
			sel.replaceChildren(el("option", { value: "" }, "all targets"));
			names.forEach(function (n) {
				sel.appendChild(el("option", { value: n }, visible(n)));
			});
			sel.value = st.target;
		}
		var parked = list.reduce(function (a, t) { return a + num(t.parked); }, 0);
		$("retry-all").hidden = parked === 0;
		return list;
	}

	function renderPushes(d, serverNow) {
		var list = Array.isArray(d.pushes) ? d.pushes : [];
		$("pushes").replaceChildren.apply($("pushes"), list.map(function (p) {
			var done = num(p.bytes_done);
			var total = num(p.bytes_total);
			var started = parseTime(p.started);
			var secs = started !== null && serverNow !== null ?
			    (serverNow - started) / 1000 : 0;
			var bar = el("progress", { max: total > 0 ? total : null,
			    value: total > 0 ? Math.min(done, total) : null });
			var info = total > 0 ?
			    Math.floor(100 * Math.min(done, total) / total) + "% · " +
			    fmtBytes(done) + " of " + fmtBytes(total) : fmtBytes(done);
			if (secs >= 1)
				info += " · " + fmtBytes(done / secs) + "/s";
			return el("li", { "data-push-path": str(p.path),
			    "data-push-target": str(p.target) },
			    el("div", { class: "push-head" },
				el("span", { class: "tag" }, text(p.target)),
				el("span", { class: "path" }, text(p.path)),
				el("span", { class: "muted" }, text(p.user))),
			    bar, el("div", { class: "push-info" }, info));
		}));
		$("pushes-empty").hidden = list.length > 0;
	}

	function td(label, cls) {
		var attrs = { "data-label": label };
		if (cls)
			attrs.class = cls;
		var args = [ "td", attrs ].concat(
		    Array.prototype.slice.call(arguments, 2));
		return el.apply(null, args);
	}

	function renderReceived(d, serverNow) {
		var list = Array.isArray(d.received) ? d.received : [];
		$("received").replaceChildren.apply($("received"), list.map(function (r) {
			return el("tr", { "data-received-path": str(r.path),
			    "data-received-user": str(r.user) },
			    td("time", "time", timeEl(r.time, serverNow, false)),
			    td("user", "user", text(r.user)),
			    td("path", "path", text(r.path)),
			    td("size", "num", el("span", { title: fmtCount(r.size) + " bytes" },
				fmtBytes(r.size))));
		}));
		setText("received-count", list.length ? String(list.length) : "");
		$("received-empty").hidden = list.length > 0;
		$("received-table").parentNode.hidden = list.length === 0;
	}

	function jobState(j) {
		if (typeof j.state === "string" && j.state)
			return j.state;
		if (j.parked)
			return "parked";
		if (j.running)
			return "running";
		return "queued";
	}

	function jobPath(j) {
		var op = str(j.op);
		var frag = document.createDocumentFragment();
		if (op && op !== "put" && op !== "rename")
			frag.appendChild(el("span", { class: "op" }, op + " "));
		frag.appendChild(text(j.path));
		if (op === "rename" && j.new_path) {
			frag.appendChild(el("span", { class: "op" }, " → "));
			frag.appendChild(text(j.new_path));
		}
		return frag;
	}

	function renderJobs(d) {
		var jobs = d.jobs || {};
		var items = Array.isArray(jobs.items) ? jobs.items : [];
		var total = num(jobs.total);
		var offset = num(jobs.offset);
		var limit = num(jobs.limit) || PAGE_SIZE;

		/* The queue shrank under the page we look at: show its last page. */
		if (items.length === 0 && total > 0 && offset >= total) {
			st.offset = Math.max(0, Math.floor((total - 1) / limit) * limit);
			return true;
		}
		$("jobs").replaceChildren.apply($("jobs"), items.map(function (j) {
			var state = jobState(j);
			return el("tr", { "data-job-path": str(j.path),
			    "data-job-state": state, "data-job-target": str(j.target),
			    "data-job-id": j.id },
			    td("target", "tag-cell", text(j.target)),
			    td("state", "state", el("span", { class: "badge job-" + state }, state)),
			    td("path", "path", jobPath(j)),
			    td("user", "user", text(j.user)),
			    td("age", "num", fmtDuration(j.age_s)),
			    td("attempts", "num", fmtCount(j.attempts)),
			    td("last error", "err", text(j.last_error)));
		}));
		$("jobs-empty").hidden = total > 0;
		$("jobs-table").parentNode.hidden = items.length === 0;
		setText("job-total", total ? fmtCount(total) : "");
		setText("job-range", total ? fmtCount(offset + 1) + "–" +
		    fmtCount(offset + items.length) + " of " + fmtCount(total) : "");
		$("job-prev").disabled = offset <= 0;
		$("job-next").disabled = offset + items.length >= total;
		$("job-prev").parentNode.hidden = total <= limit && offset === 0;
		return false;
	}

	function render(d) {
		var serverNow = parseTime(d.now);
		var list;
		renderHeader(d);
		list = renderTargets(d, serverNow);
		renderPushes(d, serverNow);
		renderReceived(d, serverNow);
		var again = renderJobs(d);
		var waiting = list.reduce(function (a, t) {
			return a + num(t.queued) + num(t.running);
		}, 0);
		var bad = list.filter(function (t) { return t.state !== "up"; }).length;
		document.title = (bad ? "⚠ " : "") +
		    (waiting ? waiting + " queued · " : "") + "relayftpd status";
		return again;
	}

	/* --- connection state and messages */

	function setConn(kind, text) {
		var c = $("conn");
		c.setAttribute("data-conn", kind);
		c.textContent = text;
	}

	function toast(text, isError) {
		var t = $("toast");
		t.textContent = text;
		t.className = "toast" + (isError ? " error" : "");
		t.hidden = false;
		clearTimeout(st.toastTimer);
		st.toastTimer = setTimeout(function () { t.hidden = true; }, 5000);
	}

	function showAuth(message) {
		st.locked = true;
		$("auth").hidden = false;
		$("main").hidden = true;
		$("auth-error").hidden = !message;
		$("auth-error").textContent = message || "";
		setConn("locked", "token needed");
		$("token").focus();
	}

	function hideAuth() {
		if (!st.locked)
			return;
		st.locked = false;
		$("auth").hidden = true;
		$("main").hidden = false;
	}

	/* --- polling */

	function statusUrl() {
		var q = "offset=" + st.offset + "&limit=" + PAGE_SIZE;
		if (st.target)
			q += "&target=" + encodeURIComponent(st.target);
		return "api/status?" + q;
	}

	function schedule(ms) {
		clearTimeout(st.timer);
		st.timer = setTimeout(poll, document.hidden ? Math.max(ms, HIDDEN_MS) : ms);
	}

	function poll() {
		var ctrl = typeof AbortController === "function" ? new AbortController() : null;
		var killer;
		clearTimeout(st.timer);
		if (st.ctrl)
			st.ctrl.abort();  /* a newer question replaces an older one */
		st.ctrl = ctrl;
		killer = setTimeout(function () { if (ctrl) ctrl.abort(); }, REQUEST_TIMEOUT_MS);

		fetch(statusUrl(), { headers: authHeaders({ Accept: "application/json" }),
		    cache: "no-store", credentials: "omit",
		    signal: ctrl ? ctrl.signal : undefined })
		.then(function (res) {
			if (res.status === 401)
				return { locked: true };
			if (!res.ok)
				throw new Error("HTTP " + res.status);
			return res.json();
		})
		.then(function (d) {
			if (st.ctrl !== ctrl)
				return;
			st.ctrl = null;
			if (d.locked) {
				var had = getToken() || st.memToken;
				setToken("");
				showAuth(had ? "That token was refused." : "");
				return;  /* the next poll comes from the form */
			}
			hideAuth();
			st.failures = 0;
			st.lastOk = Date.now();
			if (render(d)) {
				poll();
				return;
			}
			setConn("live", "live");
			schedule(POLL_MS);
		})
		.catch(function (e) {
			if (st.ctrl !== ctrl)
				return;  /* replaced by a newer poll */
			st.ctrl = null;
			st.failures++;
			var wait = Math.min(MAX_BACKOFF_MS,
			    POLL_MS * Math.pow(2, Math.min(st.failures, 5)));
			var what = e && e.name === "AbortError" ? "no answer" :
			    (e && e.message) || "error";
			setConn(st.lastOk ? "stale" : "down",
			    (st.lastOk ? "stale: " : "unreachable: ") + what +
			    ", retry in " + Math.round(wait / 1000) + " s");
			schedule(wait);
		})
		.finally(function () { clearTimeout(killer); });
	}

	/* --- actions */

	function retry(target, button) {
		var url = "api/retry" + (target ? "?target=" + encodeURIComponent(target) : "");
		if (button)
			button.disabled = true;
		/* X-Relayftpd-Request: a header a cross-site form cannot send,
		 * so the server can refuse requests another site makes. */
		fetch(url, { method: "POST", cache: "no-store", credentials: "omit",
		    headers: authHeaders({ "X-Relayftpd-Request": "1" }) })
		.then(function (res) {
			if (res.status === 401) {
				setToken("");
				showAuth("That token was refused.");
				throw new Error("token refused");
			}
			return res.json().catch(function () { return {}; }).then(function (j) {
				if (!res.ok)
					throw new Error(str(j.error) || "HTTP " + res.status);
				return j;
			});
		})
		.then(function (j) {
			var n = num(j.requeued);
			toast("Requeued " + n + " job" + (n === 1 ? "" : "s") +
			    (target ? " for " + visible(target) : "") + ".", false);
			poll();
		})
		.catch(function (e) {
			toast("Retry failed: " + ((e && e.message) || "error"), true);
			if (button)
				button.disabled = false;
		});
	}

	function init() {
		$("auth-form").addEventListener("submit", function (ev) {
			ev.preventDefault();
			var v = $("token").value.trim();
			if (!v)
				return;
			setToken(v);
			$("token").value = "";
			setConn("connecting", "connecting");
			poll();
		});
		$("forget-token").addEventListener("click", function () {
			setToken("");
			poll();
		});
		$("forget-token").hidden = !getToken();
		$("targets").addEventListener("click", function (ev) {
			var b = ev.target.closest && ev.target.closest("button[data-retry]");
			if (b)
				retry(b.getAttribute("data-retry"), b);
		});
		$("retry-all").addEventListener("click", function (ev) {
			retry("", ev.currentTarget);
		});
		$("job-target").addEventListener("change", function (ev) {
			st.target = ev.currentTarget.value;
			st.offset = 0;
			poll();
		});
		$("job-prev").addEventListener("click", function () {
			st.offset = Math.max(0, st.offset - PAGE_SIZE);
			poll();
		});
		$("job-next").addEventListener("click", function () {
			st.offset += PAGE_SIZE;
			poll();
		});
		document.addEventListener("visibilitychange", function () {
			if (!document.hidden && !st.locked)
				poll();
		});
		poll();
	}

	if (document.readyState === "loading")
		document.addEventListener("DOMContentLoaded", init);
	else
		init();
})();
