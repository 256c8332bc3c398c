// The wall's panel of system-call actions: re-reads /api/v1/actions every
// 15 seconds and redraws the list (templates/actions-panel.html renders it
// with the page, so the wall shows them without this script too). Text is
// set with textContent only: nothing from the server becomes markup.
(function () {
  'use strict';
  var panel = document.querySelector('[data-actions-panel]');
  if (!panel) { return; }
  var list = panel.querySelector('[data-actions-list]');
  var empty = panel.querySelector('[data-actions-empty]');
  var overdue = panel.querySelector('[data-actions-overdue]');
  var overdueCount = panel.querySelector('[data-actions-overdue-count]');

  function span(cls, text) {
    var el = document.createElement('span');
    el.className = cls;
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function item(a) {
    var li = document.createElement('li');
    li.className = 'pf-action pf-action--' + a.state + (a.overdue ? ' pf-action--overdue' : '');
    li.setAttribute('data-action-id', a.item_id);
    li.appendChild(span('pf-action__text', a.text));
    li.appendChild(span('pf-action__owner', a.owner));
    var due = span('pf-action__due');
    if (a.state === 'open') {
      if (a.overdue) {
        var flag = document.createElement('strong');
        flag.className = 'pf-action__flag';
        flag.textContent = 'Overdue';
        due.appendChild(flag);
        due.appendChild(document.createTextNode(' since ' + a.due));
      } else {
        due.textContent = 'Due ' + a.due;
      }
    } else {
      due.textContent = (a.state === 'done' ? 'Done' : 'Cancelled') + ' by ' + a.closed_by + ' at ' + a.closed_at;
    }
    li.appendChild(due);
    return li;
  }

  function draw(view) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    (view.actions || []).forEach(function (a) { list.appendChild(item(a)); });
    empty.hidden = (view.actions || []).length > 0;
    overdue.hidden = !view.overdue;
    overdueCount.textContent = String(view.overdue || 0);
  }

  function refresh() {
    fetch('/api/v1/actions', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (view) { if (view) { draw(view); } })
      .catch(function () { /* the panel stands until the next try */ });
  }

  setInterval(refresh, 15000);
})();
