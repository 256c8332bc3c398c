/*
 * The forecast band on the control-room wall (its own file: the wall's own
 * script and template are being redesigned separately).
 *
 * After each 24-hour occupancy chart ([data-trend="system"|<site code>]) it
 * adds the next 72 hours of forecast G&A occupancy from pf-forecast
 * (GET /api/v1/forecast/{scope}, same origin: the ingress routes it to
 * pf-forecast): the 80% interval as a band, the point forecast as a line,
 * and a caption; and on each site card (and the system) "Predicted OPEL
 * tomorrow 08:00: N" with what was held. When the forecast cannot be read
 * (not routed here, not signed in, not fitted yet) nothing is added: the
 * wall stays as it is. Refreshed every 15 minutes. No inline styles (CSP):
 * SVG presentation attributes, and forecast-band.css for the OPEL line.
 */
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var REFRESH_MS = 15 * 60 * 1000;

  function el(name, attrs) {
    var node = document.createElementNS(SVG, name);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    return node;
  }

  function path(points, lo, hi, pick) {
    var d = '';
    for (var i = 0; i < points.length; i++) {
      var x = (i / (points.length - 1)) * 100;
      var y = 30 - ((pick(points[i]) - lo) / (hi - lo || 1)) * 30;
      d += (i === 0 ? 'M' : 'L') + x.toFixed(2) + ' ' + Math.max(0, Math.min(30, y)).toFixed(2);
    }
    return d;
  }

  function band(figure, series) {
    var points = series.points;
    if (!points || points.length < 2) return;
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < points.length; i++) {
      lo = Math.min(lo, points[i].lower_80);
      hi = Math.max(hi, points[i].upper_80);
    }
    lo = Math.floor(lo - 1); hi = Math.ceil(hi + 1);
    var upper = path(points, lo, hi, function (p) { return p.upper_80; });
    var lower = path(points.slice().reverse(), lo, hi, function (p) { return p.lower_80; })
      .replace(/([ML])([0-9.]+) /g, function (_, c, x) { return 'L' + (100 - parseFloat(x)).toFixed(2) + ' '; });
    var box = figure.nextElementSibling && figure.nextElementSibling.hasAttribute('data-forecast-band')
      ? figure.nextElementSibling : null;
    if (!box) {
      box = document.createElement('figure');
      box.className = 'pf-trend pf-trend--forecast';
      box.setAttribute('data-forecast-band', figure.getAttribute('data-trend'));
      figure.parentNode.insertBefore(box, figure.nextSibling);
    }
    while (box.firstChild) box.removeChild(box.firstChild);
    var svg = el('svg', { viewBox: '0 0 100 30', preserveAspectRatio: 'none', 'aria-hidden': 'true',
      focusable: 'false', 'class': 'pf-trend__chart' });
    svg.appendChild(el('path', { d: upper + ' ' + lower + ' Z', fill: 'currentColor', 'fill-opacity': '0.2', stroke: 'none' }));
    svg.appendChild(el('path', { d: path(points, lo, hi, function (p) { return p.value; }), fill: 'none',
      stroke: 'currentColor', 'stroke-width': '1', 'stroke-dasharray': '2 1', 'vector-effect': 'non-scaling-stroke' }));
    box.appendChild(svg);
    var caption = document.createElement('figcaption');
    caption.className = 'pf-trend__caption';
    var last = points[points.length - 1];
    caption.textContent = 'Next 72 h (forecast): ' + Math.round(points[0].value) + '% now to ' +
      Math.round(last.value) + '% (80% range ' + Math.round(last.lower_80) + '–' + Math.round(last.upper_80) + '%)';
    box.appendChild(caption);
  }

  function opelLine(scope, opel) {
    var card = scope === 'system' ? document.querySelector('[data-trend="system"]')
      : document.querySelector('[data-site-card="' + scope + '"]');
    if (!card || !opel || !opel.tomorrow_0800) return;
    var host = scope === 'system' ? card.parentNode : card;
    var line = host.querySelector('[data-forecast-opel]');
    if (!line) {
      line = document.createElement('p');
      // Not the cards' .pf-site__meta: the wall hides those at wall size (forecast-band.css).
      line.className = 'pf-forecast-opel';
      line.setAttribute('data-forecast-opel', scope);
      host.appendChild(line);
    }
    var t = opel.tomorrow_0800;
    var held = t.held_at_latest && t.held_at_latest.length ? ' (' + t.held_at_latest.join(', ').replace(/_/g, ' ') + ' held at latest)' : '';
    line.textContent = 'Predicted OPEL tomorrow 08:00: ' + t.level +
      (t.level_at_upper_80 && t.level_at_upper_80 !== t.level ? ', up to ' + t.level_at_upper_80 : '') + held;
  }

  function refresh() {
    var figures = document.querySelectorAll('[data-trend]');
    for (var i = 0; i < figures.length; i++) {
      (function (figure) {
        var scope = figure.getAttribute('data-trend');
        fetch('/api/v1/forecast/' + encodeURIComponent(scope), { credentials: 'same-origin' })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (body) {
            if (!body || !body.scope || !body.scope.series) return;
            var occupancy = body.scope.series.ga_occupancy_pct;
            if (occupancy) band(figure, occupancy);
            opelLine(scope, body.scope.opel);
          })
          .catch(function () { /* the wall stays as it is */ });
      })(figures[i]);
    }
  }

  if (!('fetch' in window)) return;
  refresh();
  // The site cards are drawn when the wall's first snapshot arrives.
  setTimeout(refresh, 10 * 1000);
  setInterval(refresh, REFRESH_MS);
})();
