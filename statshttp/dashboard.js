(function () {
  'use strict';
  var body = document.body;
  var statsURL = body.getAttribute('data-stats-url');
  var refresh = parseInt(body.getAttribute('data-refresh-ms'), 10) || 2000;
  var KEY = 'redishttp-stats-token';
  var token = null;
  try { token = window.sessionStorage.getItem(KEY); } catch (e) { /* storage disabled */ }

  // Take the token from ?token= or #token= once, keep it for this tab only,
  // and remove it from the address bar and history.
  var here = new URL(window.location.href);
  var fresh = here.searchParams.get('token') ||
    new URLSearchParams(here.hash.replace(/^#/, '')).get('token');
  if (fresh) {
    token = fresh;
    try { window.sessionStorage.setItem(KEY, token); } catch (e) { /* kept in memory */ }
    here.searchParams.delete('token');
    window.history.replaceState(null, '', here.pathname + here.search);
  }

  var samples = [];
  var MAX_SAMPLES = 60;

  function $(id) { return document.getElementById(id); }
  function text(id, v) { $(id).textContent = String(v); }
  function cell(tr, v, field) {
    var td = document.createElement('td');
    td.textContent = String(v);
    if (field) { td.setAttribute('data-field', field); }
    tr.appendChild(td);
    return td;
  }
  function rows(id, items, fill) {
    var tb = $(id);
    while (tb.firstChild) { tb.removeChild(tb.firstChild); }
    (items || []).forEach(function (it) {
      var tr = document.createElement('tr');
      fill(tr, it);
      tb.appendChild(tr);
    });
  }
  function rate(s) { return parseFloat(s) || 0; }

  function chart() {
    var svg = $('chart');
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (samples.length < 2) { return; }
    var dh = [], dm = [], top = 1;
    for (var i = 1; i < samples.length; i++) {
      var h = Math.max(0, samples[i].hits - samples[i - 1].hits);
      var m = Math.max(0, samples[i].misses - samples[i - 1].misses);
      dh.push(h); dm.push(m); top = Math.max(top, h, m);
    }
    var W = 600, H = 160, pad = 6;
    function line(vals, cls, color) {
      var pts = vals.map(function (v, j) {
        var x = vals.length === 1 ? W / 2 : pad + j * (W - 2 * pad) / (vals.length - 1);
        var y = H - pad - v * (H - 2 * pad) / top;
        return x.toFixed(1) + ',' + y.toFixed(1);
      });
      var pl = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
      pl.setAttribute('points', pts.join(' '));
      pl.setAttribute('fill', 'none');
      pl.setAttribute('stroke', color);
      pl.setAttribute('stroke-width', '2');
      pl.setAttribute('class', cls);
      svg.appendChild(pl);
    }
    var cs = window.getComputedStyle(document.documentElement);
    line(dh, 'hits', cs.getPropertyValue('--hit').trim() || 'green');
    line(dm, 'misses', cs.getPropertyValue('--miss').trim() || 'red');
  }

  function render(rep) {
    var src = $('source');
    src.textContent = rep.source === 'redis' ? 'all instances' : 'this instance only';
    src.className = 'badge ' + rep.source;
    src.setAttribute('data-source', rep.source);
    text('timestamp', new Date(rep.timestamp).toLocaleTimeString());
    text('backend-state', rep.backend.state);
    text('instance-count', (rep.instances || []).length);
    text('status', '');
    rows('warnings', rep.warnings, function (li, w) { li.textContent = w; });

    var p = rep.performance;
    text('perf-hitrate', p.hitRate); text('perf-hits', p.hits); text('perf-misses', p.misses);
    text('perf-stale', p.stale); text('perf-coalesced', p.coalesced); text('perf-loads', p.loads);
    samples.push({ hits: p.hits + p.stale, misses: p.misses });
    if (samples.length > MAX_SAMPLES) { samples.shift(); }
    chart();

    rows('patterns', rep.patterns, function (tr, pt) {
      tr.setAttribute('data-pattern', pt.name);
      cell(tr, pt.name, 'name');
      cell(tr, pt.count, 'count');
      var td = document.createElement('td');
      var bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = Math.round(rate(pt.hitRate) * 0.6) + 'px';
      var v = document.createElement('span');
      v.textContent = pt.hitRate;
      v.setAttribute('data-field', 'hitRate');
      td.appendChild(bar); td.appendChild(v); tr.appendChild(td);
      cell(tr, pt.hits, 'hits'); cell(tr, pt.misses, 'misses'); cell(tr, pt.stale, 'stale');
      cell(tr, pt.coalesced, 'coalesced'); cell(tr, pt.loads, 'loads');
    });

    var rl = rep.rateLimit;
    text('rl-allowed', rl.allowed); text('rl-denied', rl.denied);
    text('rl-denyrate', rl.denyRate); text('rl-errors', rl.errors);
    rows('ratelimit', rl.routes, function (tr, r) {
      tr.setAttribute('data-route', r.name);
      cell(tr, r.name, 'name'); cell(tr, r.allowed, 'allowed'); cell(tr, r.denied, 'denied');
      cell(tr, r.denyRate, 'denyRate'); cell(tr, r.errors, 'errors');
    });

    var lk = rep.locks;
    text('lk-acquired', lk.acquired); text('lk-contended', lk.contended); text('lk-expired', lk.expired);
    text('lk-replayed', lk.replayed); text('lk-errors', lk.errors);
    rows('locks', lk.routes, function (tr, r) {
      tr.setAttribute('data-route', r.name);
      cell(tr, r.name, 'name'); cell(tr, r.acquired, 'acquired'); cell(tr, r.contended, 'contended');
      cell(tr, r.expired, 'expired'); cell(tr, r.replayed, 'replayed'); cell(tr, r.errors, 'errors');
    });

    rows('instances', rep.instances, function (tr, in_) {
      tr.setAttribute('data-instance', in_.id);
      cell(tr, in_.id + (in_.self ? ' (this)' : ''), 'id');
      cell(tr, in_.backend.state, 'backend');
      cell(tr, new Date(in_.lastSeen).toLocaleTimeString(), 'lastSeen');
      cell(tr, in_.performance.hits, 'hits'); cell(tr, in_.performance.misses, 'misses');
      cell(tr, in_.performance.hitRate, 'hitRate');
      cell(tr, in_.rateLimit.denied, 'denied'); cell(tr, in_.locks.contended, 'contended');
    });
  }

  function headers(accept) {
    var h = { 'Accept': accept };
    if (token) { h['Authorization'] = 'Bearer ' + token; }
    return h;
  }

  function setMode(m) {
    var el = $('mode');
    el.textContent = m === 'live' ? 'live' : 'every ' + (refresh / 1000) + ' s';
    el.setAttribute('data-mode', m);
  }

  function poll() {
    window.fetch(statsURL, { headers: headers('application/json'), credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        if (res.status === 401) {
          text('status', 'Not authorized: open this page with ?token=... or sign in.');
          return null;
        }
        if (!res.ok) { throw new Error('HTTP ' + res.status); }
        return res.json();
      })
      .then(function (rep) { if (rep) { render(rep); } })
      .catch(function (err) { text('status', 'Stats unavailable: ' + err.message); });
  }

  var pollTimer = null;
  function startPolling() {
    if (pollTimer !== null) { return; }
    setMode('poll');
    poll();
    pollTimer = window.setInterval(poll, refresh);
  }
  function stopPolling() {
    if (pollTimer === null) { return; }
    window.clearInterval(pollTimer);
    pollTimer = null;
  }

  // The live stream: the same URL asked for text/event-stream, with the
  // same credentials as the polls (the bearer header, or the application's
  // cookies). It is read with fetch because EventSource cannot send an
  // Authorization header. Without a report within FIRST_MS (a proxy that
  // buffers the stream, say), on an error, or when the stream breaks before
  // a report arrived, the page polls and tries the stream again after
  // RETRY_MS; a stream that worked and ended is reopened after one refresh
  // interval, so even a proxy that cuts every stream costs no more than
  // polling.
  var FIRST_MS = Math.max(3000, 2 * refresh);
  var IDLE_MS = 40000; // the server sends a heartbeat after 15 s of silence
  var RETRY_MS = 30000;
  function stream() {
    if (!(window.fetch && window.AbortController && window.TextDecoder && window.ReadableStream)) {
      startPolling();
      return;
    }
    var ctl = new window.AbortController(), dec = new window.TextDecoder();
    var live = false, buf = '', timer = null;
    function arm(ms) {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { ctl.abort(); }, ms);
    }
    function frame(block) {
      var data = [];
      block.split('\n').forEach(function (line) {
        if (line.indexOf('data:') === 0) { data.push(line.slice(5).replace(/^ /, '')); }
      });
      if (data.length === 0) { return; }
      render(JSON.parse(data.join('\n')));
      if (!live) { live = true; stopPolling(); setMode('live'); }
    }
    arm(FIRST_MS);
    window.fetch(statsURL, { headers: headers('text/event-stream'), credentials: 'same-origin',
      cache: 'no-store', signal: ctl.signal })
      .then(function (res) {
        var ct = res.headers.get('Content-Type') || '';
        if (!res.ok || !res.body || ct.indexOf('text/event-stream') !== 0) { throw new Error('HTTP ' + res.status); }
        var reader = res.body.getReader();
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) { throw new Error('stream ended'); }
            buf += dec.decode(r.value, { stream: true });
            var i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              frame(buf.slice(0, i));
              buf = buf.slice(i + 2);
            }
            if (live) { arm(IDLE_MS); }
            return pump();
          });
        }
        return pump();
      })
      .catch(function () {
        window.clearTimeout(timer);
        ctl.abort();
        if (live) {
          window.setTimeout(stream, refresh);
          return;
        }
        startPolling();
        window.setTimeout(stream, RETRY_MS);
      });
  }

  stream();
}());
