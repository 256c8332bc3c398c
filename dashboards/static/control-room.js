/*
 * Control room live updates.
 *
 * The page is complete without this script: the gateway renders every figure. This script only keeps
 * those figures current. It opens /ws/control-room (resuming from the version the page was rendered
 * at), applies `snapshot` and `delta` messages (docs/architecture.md, "Gateway websocket protocol")
 * by writing server-computed values into the elements marked
 *   data-site="<site code>|trust:<code>|system"  data-field="<field>"  [data-kind="<bed kind>"]
 *   [data-pathway="0".."3"]
 * and, for care homes (`care_homes`, in every snapshot and in a delta when a home changed),
 *   data-care="<locality>|system"  data-field="<field>"  [data-category="<care category>"]
 * It also applies the unversioned `opel` (levels and recent alerts) and `trends` (each scope's
 * occupancy chart, drawn by the server as SVG paths) messages, sent on connecting and on change,
 * and reconnects with backoff when the connection drops. No business logic lives here: nothing is
 * computed, only placed.
 *
 * Memory stays bounded: no message history is kept, only the last applied version and its time.
 * For tests, <body data-version> is the last applied version.
 *
 * On a wall (the wall layout's media query) the pages below the top line (<section data-wall-page>)
 * take turns: one shows, the next after `seconds` (30 by default). A screen's own choice comes from
 * its address: ?pages=system,urgent (which pages, in that order) and &seconds=20 (5 to 600). The
 * page buttons show one page and hold it there; "Hold this page" stops and restarts the turns
 * (WCAG 2.2.2). A page of site cards with no site in it is skipped. Elsewhere (a phone, a laptop)
 * every page shows, one after the other, and nothing moves.
 */
(function () {
  'use strict';

  var MIN_DELAY_MS = 1000;
  var MAX_DELAY_MS = 10000;
  var SYSTEM = 'system';
  var GROUPS = ['acute', 'community', 'mental_health', 'virtual_ward'];

  var body = document.body;
  var statusEl = document.getElementById('live-status');
  var siteTemplate = document.getElementById('pf-site-template');
  var kindRowTemplate = document.getElementById('pf-kind-row-template');
  var kindRows = document.querySelector('[data-kind-rows="' + SYSTEM + '"]');
  var careSection = document.querySelector('[data-care-homes]');
  var careRows = document.querySelector('[data-care-category-rows]');
  var careRowTemplate = document.getElementById('pf-care-category-template');
  var careEmpty = document.querySelector('[data-care-empty]');
  var clock = new Intl.DateTimeFormat('en-GB', {
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'Europe/London'
  });

  var rendered = parseInt(body.getAttribute('data-version'), 10);
  var state = {
    /** Last applied change version, or null when we have none (then we ask for a snapshot). */
    version: isFinite(rendered) ? rendered : null,
    /** "HH:MM" of the latest data we show. */
    asOfHhmm: statusEl ? statusEl.getAttribute('data-as-of-hhmm') || '' : '',
    socket: null,
    attempt: 0,
    timer: null
  };

  // ---- status indicator -------------------------------------------------------------------------

  function setStatus(kind) {
    if (!statusEl) return;
    var text;
    if (kind === 'live') {
      text = 'Live';
    } else if (kind === 'connecting') {
      text = 'Connecting — data as of ' + state.asOfHhmm;
    } else {
      text = 'Reconnecting — data as of ' + state.asOfHhmm;
    }
    statusEl.className = 'pf-status pf-status--' + kind;
    if (statusEl.textContent !== text) statusEl.textContent = text;
  }

  function setAsOf(asOf) {
    if (typeof asOf !== 'string') return;
    var when = new Date(asOf);
    if (isNaN(when.getTime())) return;
    state.asOfHhmm = clock.format(when);
    var times = document.querySelectorAll('time[data-field="as_of"]');
    for (var i = 0; i < times.length; i++) {
      times[i].setAttribute('datetime', asOf);
      times[i].textContent = state.asOfHhmm;
    }
  }

  // ---- placing values ---------------------------------------------------------------------------

  function format(field, value) {
    if (/_pct$/.test(field)) {
      return typeof value === 'number' && isFinite(value) ? value.toFixed(1) + '%' : '–';
    }
    if (value === null || value === undefined) return '–';
    // Hours to one decimal, as the server renders them ("0.0", not "0").
    if (field === 'hours_lost' && typeof value === 'number' && isFinite(value)) return value.toFixed(1);
    return String(value);
  }

  function put(el, field, value) {
    var text = format(field, value);
    if (el.textContent === text) return;
    var wasEmpty = el.textContent === '';
    el.textContent = text;
    if (!wasEmpty) {
      // Start the "changed" highlight, or start it again by switching to its twin animation (a new
      // animation name restarts it without forcing a layout per figure, which at tens of updates a
      // second would leave the page behind the feed). The animationend listener removes both.
      if (el.classList.contains('pf-changed')) {
        el.classList.remove('pf-changed');
        el.classList.add('pf-changed-again');
      } else {
        el.classList.remove('pf-changed-again');
        el.classList.add('pf-changed');
      }
    }
  }

  /**
   * Writes every [data-site=key][data-field] under root from a scope's figures: the scope's own
   * fields, and for [data-pathway=p] elements the fields of its pathway p (by-kind cells excluded).
   */
  function putTotals(root, key, totals) {
    var els = root.querySelectorAll('[data-site="' + cssEscape(key) + '"][data-field]:not([data-kind])');
    var pathways = {};
    if (Array.isArray(totals.pathways)) {
      for (var p = 0; p < totals.pathways.length; p++) {
        var row = totals.pathways[p];
        if (row && typeof row.pathway === 'string') pathways[row.pathway] = row;
      }
    }
    for (var i = 0; i < els.length; i++) {
      var field = els[i].getAttribute('data-field');
      var pathway = els[i].getAttribute('data-pathway');
      var source = pathway === null ? totals : pathways[pathway];
      if (source && Object.prototype.hasOwnProperty.call(source, field)) put(els[i], field, source[field]);
    }
  }

  function putSystem(system) {
    if (!system) return;
    putTotals(document, SYSTEM, system);
    if (kindRows && kindRowTemplate && Array.isArray(system.by_kind)) putKinds(system.by_kind);
  }

  function putTrusts(trusts) {
    if (!Array.isArray(trusts)) return;
    for (var i = 0; i < trusts.length; i++) {
      if (trusts[i] && typeof trusts[i].code === 'string') putTotals(document, 'trust:' + trusts[i].code, trusts[i]);
    }
  }

  /** Brings the system's by-kind table in line with the list the server sent (same order). */
  function putKinds(list) {
    var seen = {};
    for (var i = 0; i < list.length; i++) {
      var k = list[i];
      if (!k || typeof k.kind !== 'string') continue;
      seen[k.kind] = true;
      var row = kindRows.querySelector('[data-kind-row="' + cssEscape(k.kind) + '"]');
      if (!row) row = instantiate(kindRowTemplate, '__KIND__', k.kind);
      kindRows.appendChild(row); // keeps the server's order
      var cells = row.querySelectorAll('[data-field]');
      for (var j = 0; j < cells.length; j++) {
        var field = cells[j].getAttribute('data-field');
        if (Object.prototype.hasOwnProperty.call(k, field)) put(cells[j], field, k[field]);
      }
    }
    var rows = kindRows.querySelectorAll('[data-kind-row]');
    for (var r = 0; r < rows.length; r++) {
      if (!seen[rows[r].getAttribute('data-kind-row')]) rows[r].parentNode.removeChild(rows[r]);
    }
  }

  // ---- care homes ------------------------------------------------------------------------------

  /** Writes the counts of one locality (or the system) into its [data-care][data-field] elements. */
  function putCareCounts(key, counts) {
    if (!counts || typeof counts !== 'object') return;
    var els = careSection.querySelectorAll('[data-care="' + cssEscape(key) + '"][data-field]:not([data-category])');
    for (var i = 0; i < els.length; i++) {
      var field = els[i].getAttribute('data-field');
      if (Object.prototype.hasOwnProperty.call(counts, field)) put(els[i], field, counts[field]);
    }
  }

  /** Puts a CareHomesView (the whole of it: the server always sends every figure) on the page. */
  function putCareHomes(view) {
    if (!careSection || !view || typeof view !== 'object') return;
    var localities = Array.isArray(view.localities) ? view.localities : [];
    var order = [];
    for (var i = 0; i < localities.length; i++) {
      var l = localities[i];
      order.push(l && typeof l.locality === 'string' ? l.locality : null);
      if (order[i] !== null) putCareCounts(order[i], l);
    }
    putCareCounts(SYSTEM, view.system);
    putCareCounts(SYSTEM, { stale_after_hours: view.stale_after_hours });
    if (careRows && careRowTemplate && Array.isArray(view.categories)) putCareCategories(view.categories, order);
  }

  /** Brings the beds-by-category table in line with the server's list (same order, only those listed). */
  function putCareCategories(list, order) {
    var seen = {};
    for (var i = 0; i < list.length; i++) {
      var c = list[i];
      if (!c || typeof c.category !== 'string') continue;
      seen[c.category] = true;
      var row = careRows.querySelector('[data-category-row="' + cssEscape(c.category) + '"]');
      if (!row) row = instantiate(careRowTemplate, '__CATEGORY__', c.category);
      careRows.appendChild(row); // keeps the server's order
      var byLocality = Array.isArray(c.available_by_locality) ? c.available_by_locality : [];
      var cells = row.querySelectorAll('[data-field]');
      for (var j = 0; j < cells.length; j++) {
        var field = cells[j].getAttribute('data-field');
        var key = cells[j].getAttribute('data-care');
        if (field === 'available' && key !== SYSTEM) {
          var at = order.indexOf(key);
          if (at >= 0 && at < byLocality.length) put(cells[j], field, byLocality[at]);
        } else if (Object.prototype.hasOwnProperty.call(c, field)) {
          put(cells[j], field, c[field]);
        }
      }
    }
    var rows = careRows.querySelectorAll('[data-category-row]');
    for (var r = 0; r < rows.length; r++) {
      if (!seen[rows[r].getAttribute('data-category-row')]) rows[r].parentNode.removeChild(rows[r]);
    }
    if (careEmpty) careEmpty.hidden = careRows.querySelector('[data-category-row]') !== null;
  }

  // ---- sites ------------------------------------------------------------------------------------

  function groupFor(kind) {
    var name = GROUPS.indexOf(kind) >= 0 ? kind : 'other';
    return document.querySelector('[data-group-sites="' + name + '"]');
  }

  function findCard(code) {
    return document.querySelector('[data-site-card="' + cssEscape(code) + '"]');
  }

  /** Updates (or creates, or moves to the right group) the card of one site. */
  function putSite(site, keepOrder) {
    if (!site || typeof site.code !== 'string' || site.code === SYSTEM) return null;
    var card = findCard(site.code);
    if (!card) {
      if (!siteTemplate) return null;
      card = instantiate(siteTemplate, '__CODE__', site.code);
    }
    var group = groupFor(site.kind);
    if (group && (card.parentNode !== group || keepOrder)) {
      group.appendChild(card);
    }
    if (typeof site.kind === 'string') card.setAttribute('data-kind', site.kind);
    putTotals(card, site.code, site);
    // The site's rows outside its card (ED and ambulances).
    var rows = document.querySelectorAll('[data-site-row="' + cssEscape(site.code) + '"]');
    for (var r = 0; r < rows.length; r++) putTotals(rows[r], site.code, site);
    // The wall may end a long name in "…": its title keeps it in full.
    var name = card.querySelector('.pf-site__name');
    if (name && typeof site.name === 'string' && name.title !== site.name) name.title = site.name;
    return card;
  }

  /** Shows a group only when it has at least one site. */
  function refreshGroups() {
    var groups = document.querySelectorAll('[data-group]');
    for (var i = 0; i < groups.length; i++) {
      groups[i].hidden = !groups[i].querySelector('[data-site-card]');
    }
  }

  /** Clones a <template>'s first element, replacing `marker` in its ids and data attributes. */
  function instantiate(template, marker, value) {
    var el = template.content.firstElementChild.cloneNode(true);
    var all = [el].concat(Array.prototype.slice.call(el.querySelectorAll('*')));
    var attrs = ['id', 'aria-labelledby', 'data-site', 'data-site-card', 'data-kind', 'data-kind-row',
      'data-category', 'data-category-row', 'data-opel', 'data-trend'];
    for (var i = 0; i < all.length; i++) {
      for (var j = 0; j < attrs.length; j++) {
        var v = all[i].getAttribute(attrs[j]);
        if (v !== null && v.indexOf(marker) >= 0) all[i].setAttribute(attrs[j], v.split(marker).join(value));
      }
    }
    return el;
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
  }

  function applied(version, asOf) {
    state.version = version;
    state.attempt = 0; // a good message proves the connection works: reset the backoff
    body.setAttribute('data-version', String(version));
    setAsOf(asOf);
  }

  function applySnapshot(msg) {
    if (!Array.isArray(msg.sites) || typeof msg.version !== 'number') return;
    putSystem(msg.system);
    putTrusts(msg.trusts);
    var keep = {};
    for (var i = 0; i < msg.sites.length; i++) {
      var card = putSite(msg.sites[i], true);
      if (card) keep[msg.sites[i].code] = true;
    }
    // A snapshot replaces everything: sites it does not list are gone.
    var cards = document.querySelectorAll('[data-site-card]');
    for (var c = 0; c < cards.length; c++) {
      if (!keep[cards[c].getAttribute('data-site-card')]) cards[c].parentNode.removeChild(cards[c]);
    }
    refreshGroups();
    putCareHomes(msg.care_homes);
    applied(msg.version, msg.as_of);
  }

  function applyDelta(msg) {
    var sites = Array.isArray(msg.sites) ? msg.sites : [];
    for (var i = 0; i < sites.length; i++) putSite(sites[i], false);
    putSystem(msg.system);
    putTrusts(msg.trusts);
    refreshGroups();
    if (msg.care_homes) putCareHomes(msg.care_homes); // present only when a care home changed
    applied(msg.version, msg.as_of);
  }

  // ---- connection -------------------------------------------------------------------------------

  function url() {
    var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var u = scheme + '//' + location.host + '/ws/control-room';
    return state.version === null ? u : u + '?since=' + state.version;
  }

  function connect() {
    state.timer = null;
    var socket;
    try {
      socket = new WebSocket(url());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.socket = socket;
    socket.onopen = function () {
      if (socket === state.socket) setStatus('live');
    };
    socket.onmessage = function (ev) {
      if (socket === state.socket) onMessage(ev.data);
    };
    socket.onclose = function () {
      if (socket !== state.socket) return;
      state.socket = null;
      setStatus('reconnecting');
      scheduleReconnect();
    };
    // onerror is always followed by onclose.
  }

  function onMessage(data) {
    var msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!msg) return;
    if (msg.type === 'opel') {
      putOpel(msg.levels || {});
      putAlerts(Array.isArray(msg.alerts) ? msg.alerts : []);
      return;
    }
    if (msg.type === 'trends') {
      putTrends(msg.scopes || {});
      return;
    }
    if (typeof msg.version !== 'number') return;
    if (msg.type === 'snapshot') {
      applySnapshot(msg);
    } else if (msg.type === 'heartbeat') {
      // Nothing changed, but the figures are current as of now.
      if (msg.version === state.version) setAsOf(msg.as_of);
    } else if (msg.type === 'delta') {
      // A delta covers the changes after from_version up to version.
      if (state.version !== null && msg.version <= state.version) return; // already applied
      if (state.version === null || msg.from_version !== state.version) {
        restart(); // a gap: resume from the last version we applied (or get a snapshot)
        return;
      }
      applyDelta(msg);
    }
  }

  /** Drops the current socket and reconnects (with backoff) from the last applied version. */
  function restart() {
    var old = state.socket;
    state.socket = null;
    if (old) {
      old.onopen = old.onmessage = old.onclose = null;
      try { old.close(4000, 'version gap'); } catch (e) { /* already closing */ }
    }
    setStatus('reconnecting');
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (state.timer !== null) return;
    var ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * Math.pow(2, state.attempt));
    // "Equal jitter": between half and all of the ceiling, so clients that lost the same gateway
    // do not all come back in the same millisecond.
    var delay = ceiling / 2 + Math.random() * (ceiling / 2);
    state.attempt = Math.min(state.attempt + 1, 16);
    state.timer = window.setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (state.socket) return;
    if (state.timer !== null) window.clearTimeout(state.timer);
    state.timer = null;
    state.attempt = 0;
    connect();
  }

  document.addEventListener('animationend', function (ev) {
    if (ev.target && ev.target.classList) ev.target.classList.remove('pf-changed', 'pf-changed-again');
  });
  window.addEventListener('online', reconnectNow);

  // ---- OPEL levels and alerts (`opel` messages) -------------------------------------------------

  var alertsSection = document.getElementById('pf-alerts');

  function putOpel(levels) {
    var badges = document.querySelectorAll('[data-opel]');
    for (var i = 0; i < badges.length; i++) {
      var badge = badges[i];
      var o = levels[badge.getAttribute('data-opel')];
      if (!o) continue;
      var level = badge.querySelector('[data-opel-field="level"]');
      var words = badge.querySelector('[data-opel-field="words"]');
      if (level && level.textContent !== String(o.level)) {
        level.textContent = String(o.level);
        badge.className = 'pf-opel pf-opel--' + o.level;
      }
      if (words && words.textContent !== o.words) words.textContent = o.words;
      var reason = badge.querySelector('[data-opel-field="reason"]');
      if (reason && reason.textContent !== (o.reason || '')) reason.textContent = o.reason || '';
    }
    // The "OPEL: why" page: each scope's level and reason.
    var chips = document.querySelectorAll('[data-opel-chip]');
    for (var c = 0; c < chips.length; c++) {
      var key = chips[c].getAttribute('data-opel-chip');
      var lv = levels[key];
      if (!lv) continue;
      var text = 'OPEL ' + lv.level;
      if (chips[c].textContent !== text) {
        chips[c].textContent = text;
        chips[c].className = 'pf-chip pf-chip--' + lv.level;
      }
      var why = document.querySelector('[data-opel-why="' + cssEscape(key) + '"]');
      if (why && why.textContent !== (lv.reason || '')) why.textContent = lv.reason || '';
    }
  }

  function putAlerts(alerts) {
    if (!alertsSection || !alerts.length) return;
    var latest = alertsSection.querySelector('[data-alert-latest]');
    var list = alertsSection.querySelector('[data-alert-list]');
    if (list && list.firstElementChild &&
        list.firstElementChild.getAttribute('data-alert-id') === alerts[0].alert_id) return;
    alertsSection.hidden = false;
    function line(el, a, strong) {
      while (el.firstChild) el.removeChild(el.firstChild);
      var time = document.createElement('time');
      time.setAttribute('datetime', a.at);
      time.textContent = a.at_hhmm;
      el.appendChild(time);
      el.appendChild(document.createTextNode(' '));
      var title = document.createElement(strong ? 'strong' : 'span');
      title.textContent = a.title;
      el.appendChild(title);
    }
    if (latest) line(latest, alerts[0], true);
    if (list) {
      while (list.firstChild) list.removeChild(list.firstChild);
      for (var i = 0; i < alerts.length && i < 20; i++) {
        var li = document.createElement('li');
        li.className = 'pf-alerts__item pf-alerts__item--' + alerts[i].severity;
        li.setAttribute('data-alert-id', alerts[i].alert_id);
        li.title = alerts[i].at_hhmm + ' ' + alerts[i].title; // in full where the wall cuts it short
        line(li, alerts[i], false);
        list.appendChild(li);
      }
    }
  }

  // ---- trends (`trends` messages: SVG paths in the chart's 100 × 30 box, drawn by the server) ----

  function putTrends(scopes) {
    var figures = document.querySelectorAll('[data-trend]');
    for (var i = 0; i < figures.length; i++) {
      var t = scopes[figures[i].getAttribute('data-trend')];
      if (!t) continue;
      var lines = figures[i].querySelectorAll('[data-trend-line]');
      for (var j = 0; j < lines.length; j++) {
        var d = t[lines[j].getAttribute('data-trend-line') + '_path'];
        if (typeof d === 'string' && lines[j].getAttribute('d') !== d) lines[j].setAttribute('d', d);
      }
      var fields = figures[i].querySelectorAll('[data-trend-field]');
      for (var k = 0; k < fields.length; k++) {
        var name = fields[k].getAttribute('data-trend-field');
        var v = t[name];
        var text = typeof v === 'number' ? String(Math.round(v)) : typeof v === 'string' ? v : '';
        if (fields[k].textContent !== text) fields[k].textContent = text;
      }
    }
  }

  // ---- the wall's pages ---------------------------------------------------------------------------

  var WALL_MEDIA = '(min-width: 100em) and (orientation: landscape)';
  var DEFAULT_SECONDS = 30;

  /** The screen's choice from its address: which pages in which order, and how long each shows. */
  function wallSettings(all) {
    var params = new URLSearchParams(location.search);
    var names = all.map(function (p) { return p.getAttribute('data-wall-page'); });
    var chosen = (params.get('pages') || '').split(',').map(function (n) { return n.trim(); })
      .filter(function (n) { return names.indexOf(n) >= 0; });
    var seconds = parseInt(params.get('seconds') || '', 10);
    if (!isFinite(seconds)) seconds = DEFAULT_SECONDS;
    return {
      order: chosen.length ? chosen : names,
      ms: Math.max(5, Math.min(600, seconds)) * 1000
    };
  }

  function startPages() {
    var all = Array.prototype.slice.call(document.querySelectorAll('[data-wall-page]'));
    var nav = document.querySelector('[data-wall-nav]');
    if (!all.length || !nav || !window.matchMedia) return;
    var wall = window.matchMedia(WALL_MEDIA);
    var settings = wallSettings(all);
    var buttons = Array.prototype.slice.call(nav.querySelectorAll('[data-wall-show]'));
    var holdButton = nav.querySelector('[data-wall-hold]');
    var pages = { current: null, held: false, timer: null };

    function page(name) {
      return document.querySelector('[data-wall-page="' + cssEscape(name) + '"]');
    }
    /** A page worth showing: one of this screen's, and a page of cards only with a card on it. */
    function worth(name) {
      var el = page(name);
      return !!el && settings.order.indexOf(name) >= 0 &&
        (!el.hasAttribute('data-wall-sites') || !!el.querySelector('[data-site-card]'));
    }
    function show(name) {
      pages.current = name;
      for (var i = 0; i < all.length; i++) {
        if (all[i].getAttribute('data-wall-page') === name) all[i].setAttribute('data-wall-current', '');
        else all[i].removeAttribute('data-wall-current');
      }
      for (var b = 0; b < buttons.length; b++) {
        buttons[b].setAttribute('aria-pressed', String(buttons[b].getAttribute('data-wall-show') === name));
      }
    }
    function next() {
      var order = settings.order.filter(worth);
      if (!order.length) return;
      var at = order.indexOf(pages.current);
      show(order[(at + 1) % order.length]);
    }
    function schedule() {
      if (pages.timer !== null) window.clearInterval(pages.timer);
      pages.timer = null;
      if (!pages.held && wall.matches) pages.timer = window.setInterval(next, settings.ms);
    }
    function hold(on) {
      pages.held = on;
      if (holdButton) holdButton.setAttribute('aria-pressed', String(on));
      schedule();
    }
    function layout() {
      if (wall.matches) {
        body.setAttribute('data-wall-pages', '');
        if (!pages.current || !worth(pages.current)) {
          pages.current = null;
          next();
        }
      } else {
        body.removeAttribute('data-wall-pages'); // every page shows, one after the other
      }
      schedule();
    }
    function onShow(ev) {
      show(ev.currentTarget.getAttribute('data-wall-show'));
      hold(true);
    }

    // Only the pages this screen shows have a button.
    for (var b = 0; b < buttons.length; b++) {
      if (settings.order.indexOf(buttons[b].getAttribute('data-wall-show')) < 0) buttons[b].parentNode.hidden = true;
      buttons[b].addEventListener('click', onShow);
    }
    if (holdButton) holdButton.addEventListener('click', function () { hold(!pages.held); });
    nav.hidden = false;
    if (wall.addEventListener) wall.addEventListener('change', layout);
    layout();
  }

  startPages();

  if (!('WebSocket' in window)) return; // the server-rendered page stays as it is
  setStatus('connecting');
  connect();
})();
