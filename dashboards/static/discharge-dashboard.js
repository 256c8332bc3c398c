// Keeps the discharge dashboard live (served by pf-discharges; loaded as a module, no inline scripts).
//
// The pages are complete without JavaScript. This module listens to the gateway's /ws/discharges
// notifications, which carry no patient data ({"type":"discharge"|"hold"|"care_homes"|"resync"}),
// and re-reads what the page shows from this service's own API (same origin, the session cookie):
//   - a patient's page: the held bed (/api/v1/discharges/{id}) and the matching homes
//     (/api/v1/discharges/{id}/matches), updated in place; #live-status says what changed;
//   - the list: rows updated, new patients added at the end, leavers marked then taken away, the
//     count kept true (see "the list" below).
// Text is set with textContent only. The connection is re-opened with backoff when it drops, and
// everything is re-read after a reconnect (notices may have been missed meanwhile).

const body = document.body;
const gateway = body.dataset.gateway;
const page = body.dataset.page;
const dischargeId = body.dataset.discharge;
const live = document.getElementById('live-status');

const STATUS = {
  ready: 'Ready, not yet referred',
  searching: 'Searching',
  discharged: 'Discharged',
  cancelled: 'No longer waiting',
};
const SEX = { either: 'Men and women', male: 'Men only', female: 'Women only' };
const TOP_HOMES = 10; // as the page shows them (pages.rs TOP_HOMES); ?homes=all shows every one
const WAITING = "Waiting for the home's answer";
const ACCEPTED = 'Accepted by the home';

const byId = (id) => document.getElementById(id);

function say(text) {
  if (live) live.textContent = text;
}

const timeFormat = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'Europe/London' });
const dayFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', timeZone: 'Europe/London' });

function clockTime(rfc3339) {
  const at = new Date(rfc3339);
  if (Number.isNaN(at.getTime())) return '';
  return `${timeFormat.format(at)} on ${dayFormat.format(at)}`;
}

function ageText(hours) {
  if (hours === null || hours === undefined) return 'Never given';
  if (hours < 1) return 'Less than an hour ago';
  if (hours === 1) return '1 hour ago';
  if (hours < 48) return `${hours} hours ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** `1 hour 5 minutes left`, as the page says it. */
function timeLeft(rfc3339) {
  const end = new Date(rfc3339);
  if (Number.isNaN(end.getTime())) return '';
  const minutes = Math.floor((end.getTime() - Date.now()) / 60000);
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (minutes < 1) return 'less than a minute left';
  if (minutes < 60) return `${plural(minutes, 'minute')} left`;
  if (minutes % 60 === 0) return `${plural(minutes / 60, 'hour')} left`;
  return `${plural(Math.floor(minutes / 60), 'hour')} ${plural(minutes % 60, 'minute')} left`;
}

async function getJson(path) {
  const response = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (response.status === 401) {
    say('You have been signed out. Reload the page to sign in again.');
    return null;
  }
  if (!response.ok) return null;
  return response.json();
}

// ---- a patient's page ---------------------------------------------------------------------------

let shownHold = null; // {hold_id, state, home_name} as the page shows it
let hasHold = false;

function readShownHold() {
  const details = byId('hold-details');
  if (!details || details.hidden) return null;
  return {
    hold_id: byId('release-hold')?.value ?? '',
    state: byId('confirm-form')?.hidden ? 'requested' : 'accepted',
    home_name: byId('hold-home')?.textContent ?? '',
  };
}

function showPatient(patient) {
  const status = byId('patient-status');
  if (status) status.textContent = STATUS[patient.status] ?? patient.status;
  const next = byId('patient-next-action');
  if (next) next.textContent = patient.next_action;
  const hold = patient.hold;
  hasHold = Boolean(hold);
  const none = byId('hold-none');
  const details = byId('hold-details');
  if (!details || !none) return;
  none.hidden = Boolean(hold);
  details.hidden = !hold;
  if (hold) {
    const accepted = hold.state === 'accepted';
    byId('hold-home').textContent = hold.home_name;
    const state = byId('hold-state');
    state.textContent = accepted ? ACCEPTED : WAITING;
    state.classList.toggle('nhsuk-tag--green', accepted);
    state.classList.toggle('nhsuk-tag--yellow', !accepted);
    byId('hold-expiry-row').hidden = accepted;
    const expires = byId('hold-expires');
    expires.dateTime = hold.expires_at;
    expires.textContent = clockTime(hold.expires_at);
    const left = byId('hold-left');
    if (left) left.textContent = timeLeft(hold.expires_at);
    const releaseHome = byId('release-home-name');
    if (releaseHome) releaseHome.textContent = hold.home_name;
    byId('release-hold').value = hold.hold_id;
    byId('confirm-home').value = hold.cqc_location_id;
    byId('confirm-home-name').textContent = hold.home_name;
    byId('confirm-form').hidden = !accepted;
  }
  // Once a bed is held the matching homes fold away (and open again when it is not).
  const folded = byId('matches-details');
  if (folded && Boolean(hold) !== Boolean(shownHold)) {
    folded.open = !hold;
    byId('matches-summary').textContent = hold ? 'A bed is held: show the other matching homes' : 'Matching homes';
  }
  // Say what changed, once.
  const before = shownHold;
  if (hold && (!before || before.hold_id !== hold.hold_id || before.state !== hold.state)) {
    say(hold.state === 'accepted'
      ? `Accepted by ${hold.home_name}`
      : `Bed held at ${hold.home_name}: waiting for the home's answer`);
  } else if (!hold && before) {
    say(`The bed held at ${before.home_name} is no longer held`);
  }
  shownHold = hold ? { hold_id: hold.hold_id, state: hold.state, home_name: hold.home_name } : null;
}

function cell(label, numeric) {
  const td = document.createElement('td');
  td.className = numeric ? 'nhsuk-table__cell nhsuk-table__cell--numeric' : 'nhsuk-table__cell';
  td.setAttribute('role', 'cell');
  const heading = document.createElement('span');
  heading.className = 'nhsuk-table__heading';
  heading.setAttribute('aria-hidden', 'true');
  heading.textContent = `${label} `;
  td.append(heading);
  return td;
}

function tag(text, colour) {
  const strong = document.createElement('strong');
  strong.className = `nhsuk-tag nhsuk-tag--${colour}`;
  strong.textContent = text;
  return strong;
}

function small(text) {
  const span = document.createElement('span');
  span.className = 'nhsuk-body-s';
  span.textContent = text;
  return span;
}

function matchRow(home, csrf) {
  const tr = document.createElement('tr');
  tr.className = 'nhsuk-table__row';
  tr.setAttribute('role', 'row');
  tr.dataset.home = home.cqc_location_id;

  const name = cell('Care home');
  const wrap = document.createElement('span');
  const title = document.createElement('span');
  title.className = 'pf-home-name';
  title.textContent = home.name;
  wrap.append(title);
  if (home.preferred) wrap.append(' ', tag('Preferred', 'blue'));
  wrap.append(document.createElement('br'), small(`${home.postcode}, ${home.locality}`));
  if (home.phone) {
    // The API gives the number spaced for reading (0116 496 0123).
    const phone = small('Phone: ');
    phone.classList.add('pf-home-phone');
    const link = document.createElement('a');
    link.href = `tel:+44${home.phone.replace(/\s/g, '').slice(1)}`;
    link.textContent = home.phone;
    phone.append(link);
    wrap.append(document.createElement('br'), phone);
  }
  if (home.note) wrap.append(document.createElement('br'), small(home.note));
  name.append(wrap);

  const distance = cell('Distance', true);
  distance.append(`${Number(home.distance_km).toFixed(1)} km`);
  const free = cell('Free beds', true);
  free.append(String(home.free_beds));
  const takes = cell('Takes');
  takes.append(SEX[home.sex] ?? home.sex);
  const given = cell('Figures given');
  const age = document.createElement('span');
  if (home.updated_at) {
    const time = document.createElement('time');
    time.dateTime = home.updated_at;
    time.textContent = ageText(home.age_hours);
    age.append(time);
  } else {
    age.append(ageText(home.age_hours));
  }
  if (home.stale) age.append(' ', tag('Stale', 'orange'));
  given.append(age);

  const action = cell('');
  action.firstChild.remove();
  if (!hasHold) {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = `/discharges/${encodeURIComponent(dischargeId)}/hold`;
    form.className = 'pf-hold-form';
    for (const [fieldName, value] of [['csrf', csrf], ['cqc_location_id', home.cqc_location_id]]) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = fieldName;
      input.value = value;
      form.append(input);
    }
    const button = document.createElement('button');
    button.type = 'submit';
    button.className = 'nhsuk-button nhsuk-button--small pf-hold-button';
    button.append('Hold a bed');
    const hidden = document.createElement('span');
    hidden.className = 'nhsuk-u-visually-hidden';
    hidden.textContent = ` at ${home.name}`;
    button.append(hidden);
    form.append(button);
    action.append(form);
  }
  tr.append(name, distance, free, takes, given, action);
  return tr;
}

function showMatches(answer) {
  const section = byId('matches');
  const tbody = byId('matches-body');
  if (!section || !tbody) return;
  const all = answer.homes ?? [];
  const everyOne = new URLSearchParams(location.search).get('homes') === 'all';
  const homes = everyOne ? all : all.slice(0, TOP_HOMES);
  tbody.replaceChildren(...homes.map((home) => matchRow(home, section.dataset.csrf ?? '')));
  byId('matches-table').hidden = homes.length === 0;
  byId('matches-none').hidden = homes.length !== 0;
  const shown = byId('matches-shown');
  if (shown) {
    shown.hidden = homes.length === 0;
    if (all.length > homes.length) {
      const more = document.createElement('a');
      more.id = 'matches-more';
      more.href = `/discharges/${encodeURIComponent(dischargeId)}?homes=all#matches`;
      more.textContent = `Show all ${all.length} matching homes`;
      shown.replaceChildren(`Showing the first ${homes.length} of ${all.length} matching homes. `, more);
    } else {
      shown.textContent = `${all.length} matching home${all.length === 1 ? '' : 's'}.`;
    }
  }
}

async function refreshPatient() {
  const patient = await getJson(`/api/v1/discharges/${encodeURIComponent(dischargeId)}`);
  if (patient) showPatient(patient);
}

async function refreshMatches() {
  if (!byId('matches-body')) return;
  const answer = await getJson(`/api/v1/discharges/${encodeURIComponent(dischargeId)}/matches`);
  if (answer) showMatches(answer);
}

// ---- the list ----------------------------------------------------------------------------------
//
// Right live without moving what someone is reading: a patient who leaves the list is marked
// "Left the list" at once and the row is taken away a few seconds later, once the pointer and focus
// are off the table; a new patient who passes the page's filters is added at the end (never above a
// row being read) with a "New" tag; the count is recounted; each change is said once in
// #live-status (aria-live="polite").

const LEAVE_AFTER_MS = 4000;
const HOLD_TEXT = { accepted: 'accepted by the home', requested: "waiting for the home's answer" };
const dateFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const leaving = new Set();

function longDate(ymd) {
  const at = new Date(`${ymd}T00:00:00Z`);
  return Number.isNaN(at.getTime()) ? ymd : dateFormat.format(at);
}

function heldText(hold) {
  return hold ? `${hold.home_name}: ${HOLD_TEXT[hold.state] ?? hold.state}` : 'None';
}

/** Whether a patient passes the filters in the page's query string (a search adds nobody). */
function passesFilters(patient) {
  const query = new URLSearchParams(location.search);
  if ((query.get('nhs_number') ?? '').trim()) return false;
  const want = (name, value) => !(query.get(name) ?? '').trim() || query.get(name).trim() === String(value);
  return want('site', patient.site) && want('ward', patient.ward) && want('pathway', patient.pathway)
    && want('status', patient.status) && want('delay_reason', patient.delay_reason);
}

function field(label, text, name, { numeric = false, nowrap = false } = {}) {
  const td = cell(label, numeric);
  const span = document.createElement('span');
  if (name) span.dataset.field = name;
  if (nowrap) span.className = 'pf-nowrap';
  span.textContent = text;
  td.append(span);
  return td;
}

function listRow(p) {
  const tr = document.createElement('tr');
  tr.className = 'nhsuk-table__row pf-row--new';
  tr.setAttribute('role', 'row');
  tr.dataset.discharge = p.discharge_id;
  const number = field('NHS number', p.nhs_number, null, { nowrap: true });
  number.lastChild.classList.add('pf-nhs-number');
  number.append(' ', tag('New', 'blue'));
  const open = cell('');
  open.firstChild.remove();
  const link = document.createElement('a');
  link.href = `/discharges/${encodeURIComponent(p.discharge_id)}`;
  link.append('Open');
  const hidden = document.createElement('span');
  hidden.className = 'nhsuk-u-visually-hidden';
  hidden.textContent = ` the patient whose NHS number ends ${p.nhs_number.split(' ').at(-1)}`;
  link.append(hidden);
  open.append(link);
  tr.append(
    number,
    field('Site and ward', `${p.site_name}, ${p.ward}`),
    field('Discharge Ready Date', longDate(p.discharge_ready_date), null, { nowrap: true }),
    field('Waited', `${p.delay_days} day${p.delay_days === 1 ? '' : 's'}`, 'delay', { numeric: true, nowrap: true }),
    field('Pathway', String(p.pathway)),
    field('Status', STATUS[p.status] ?? p.status, 'status'),
    field('Delay reason', p.delay_reason_label, 'delay_reason'),
    field('Held bed', heldText(p.hold), 'held'),
    field('Next action', p.next_action, 'next_action'),
    open,
  );
  return tr;
}

function tableInUse() {
  const table = byId('patients');
  return Boolean(table && (table.matches(':hover') || table.contains(document.activeElement)));
}

/** Takes away rows marked as left, unless someone is pointing at or in the table. */
function sweep() {
  if (tableInUse()) {
    setTimeout(sweep, 1000);
    return;
  }
  for (const id of leaving) {
    document.querySelector(`tr[data-discharge="${CSS.escape(id)}"]`)?.remove();
  }
  leaving.clear();
}

function recount(waiting) {
  const count = byId('list-count');
  if (!count) return;
  const shown = document.querySelectorAll('tr[data-discharge]:not(.pf-row--left)').length;
  const filtered = new URLSearchParams(location.search);
  const any = ['site', 'ward', 'pathway', 'status', 'delay_reason', 'nhs_number'].some((k) => (filtered.get(k) ?? '').trim());
  count.textContent = any
    ? `Showing ${shown} of ${waiting} patients waiting. NHS numbers are shown in full when you open a patient.`
    : `${waiting} patient${waiting === 1 ? '' : 's'} no longer need a hospital bed. NHS numbers are shown in full when you open a patient.`;
}

async function refreshList() {
  const answer = await getJson('/api/v1/discharges');
  if (!answer) return;
  const patients = answer.patients ?? [];
  const waiting = new Map(patients.map((p) => [p.discharge_id, p]));
  let left = 0;
  for (const row of document.querySelectorAll('tr[data-discharge]')) {
    const patient = waiting.get(row.dataset.discharge);
    if (patient) {
      row.querySelector('[data-field="status"]').textContent = STATUS[patient.status] ?? patient.status;
      row.querySelector('[data-field="next_action"]').textContent = patient.next_action;
      const reason = row.querySelector('[data-field="delay_reason"]');
      if (reason) reason.textContent = patient.delay_reason_label;
      const held = row.querySelector('[data-field="held"]');
      if (held) held.textContent = heldText(patient.hold);
    } else if (!row.classList.contains('pf-row--left')) {
      row.classList.add('pf-row--left');
      row.querySelector('[data-field="status"]').textContent = 'Left the list';
      row.querySelector('[data-field="next_action"]').textContent = 'None';
      leaving.add(row.dataset.discharge);
      left += 1;
    }
  }
  const shown = new Set([...document.querySelectorAll('tr[data-discharge]')].map((r) => r.dataset.discharge));
  const added = patients.filter((p) => !shown.has(p.discharge_id) && passesFilters(p));
  if (added.length) {
    let body = byId('patients-body');
    if (!body) {
      // The list was empty: show the table the server would have drawn.
      location.reload();
      return;
    }
    for (const p of added) body.append(listRow(p));
    byId('list-none')?.setAttribute('hidden', '');
  }
  if (left) setTimeout(sweep, LEAVE_AFTER_MS);
  recount(patients.length);
  const said = [];
  if (added.length) said.push(`${added.length} new patient${added.length === 1 ? '' : 's'} added at the end of the list`);
  if (left) said.push(`${left} patient${left === 1 ? '' : 's'} left the list`);
  if (said.length) say(said.join('. '));
}

// ---- notifications ------------------------------------------------------------------------------

const wanted = { patient: false, matches: false, list: false };
let timer = null;

function want(what) {
  for (const key of what) wanted[key] = true;
  if (timer) return;
  timer = setTimeout(async () => {
    timer = null;
    const now = { ...wanted };
    wanted.patient = wanted.matches = wanted.list = false;
    try {
      // The patient first: whether a bed is held decides the matches' buttons.
      if (now.patient) await refreshPatient();
      if (now.matches || now.patient) await refreshMatches();
      if (now.list) await refreshList();
    } catch {
      // Offline for a moment: the next notice or reconnect reads again.
    }
  }, 150);
}

function onNotice(message) {
  if (page === 'discharge') {
    const mine = message.discharge_id === dischargeId;
    if (message.type === 'resync' || ((message.type === 'discharge' || message.type === 'hold') && mine)) {
      want(['patient', 'matches']);
    } else if (message.type === 'care_homes') {
      want(['matches']);
    }
  } else if (page === 'discharges') {
    if (message.type === 'discharge' || message.type === 'hold' || message.type === 'resync') want(['list']);
  }
}

let backoff = 1000;
let opened = false;

function connect() {
  let socket;
  try {
    socket = new WebSocket(`${gateway}/ws/discharges`);
  } catch {
    retry();
    return;
  }
  socket.addEventListener('open', () => {
    backoff = 1000;
    // Anything may have changed while the connection was down.
    if (opened) onNotice({ type: 'resync' });
    opened = true;
  });
  socket.addEventListener('message', (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    onNotice(message);
  });
  socket.addEventListener('close', (event) => {
    if (event.code === 4401) {
      say('Live updates stopped because you were signed out. Reload the page to sign in again.');
      return;
    }
    retry();
  });
}

function retry() {
  setTimeout(connect, backoff + Math.floor(Math.random() * 500));
  backoff = Math.min(backoff * 2, 30_000);
}

if (gateway && (page === 'discharge' || page === 'discharges')) {
  shownHold = readShownHold();
  hasHold = shownHold !== null;
  connect();
}
