// The care-home form through a dropped or slow connection.
//
// Without this script the forms post as any form does. With it, a submission is first written to
// this device (localStorage), then sent with `Accept: application/json` and the idempotency key the
// server put in the form. What is happening is said beside the button that was tapped, in a live
// region screen readers announce ("Sending…", "Saved on this device … will send when you are back
// online"). If it cannot be sent, it is sent by itself when the connection returns: on the
// browser's `online` event (and again after 1, 2, 4 and 8 s if the connection is not yet carrying
// requests), every 15 seconds while one waits, and whenever the page is opened again
// (a page opened offline shows the waiting figures in the form). The same key goes with every
// attempt, so however often it is sent the server applies it once; and once the server has answered,
// the key is kept until the page has moved on, so a second tap between the answer and the "Saved"
// page sends the same key again (answered "replayed"), never a second update. A newer submission
// with other figures replaces an unsent older one. "Saved" is only ever shown by the server's page,
// after the platform accepted the update.
//
// Two forms use it: the "Nothing has changed" form at the top and the figures form; each has its own
// key (`data-outbox` names the form in the stored entry). It also registers the service worker
// (/care-homes/service-worker.js), which serves the last form seen when the device is offline.

const home = document.body.dataset.home;
const forms = [...document.querySelectorAll('form[data-outbox]')];
const storageKey = `pf-care-home-outbox:${home}`;
const RETRY_MS = 15000;

let sending = false;
// Asked to send while a send was in flight (the connection came back while an attempt made offline
// was still failing): send again as soon as that attempt ends, not at the next retry.
let sendAgain = false;
let retryTimer = null;
// The last submission the server accepted, kept until the page moves on: the same figures tapped
// again go with its key.
let answered = null;
let leaving = false;

function hhmm(iso) {
  return new Date(iso).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'Europe/London' });
}

function formNamed(name) {
  return forms.find((f) => f.dataset.outbox === name) || forms.find((f) => f.dataset.outbox === 'save');
}

function statusOf(form) {
  return form.querySelector('.pf-pending');
}

function load() {
  try {
    const raw = window.localStorage.getItem(storageKey);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function store(entry) {
  try {
    window.localStorage.setItem(storageKey, JSON.stringify(entry));
    return true;
  } catch {
    return false;
  }
}

function forget(key) {
  const entry = load();
  if (entry && entry.key === key) {
    window.localStorage.removeItem(storageKey);
  }
}

// Says `text` beside the button of `form` (announced by screen readers); clears the other form's.
function say(form, text) {
  for (const f of forms) {
    const status = statusOf(f);
    if (status) {
      status.textContent = f === form ? text : '';
      status.classList.toggle('nhsuk-inset-text', f === form && text !== '');
    }
  }
}

function busy(form, on) {
  for (const button of form.querySelectorAll('button[type="submit"]')) {
    button.setAttribute('aria-disabled', on ? 'true' : 'false');
  }
}

// Failed attempts in a row while the device says it is online: the `online` event can come a
// moment before the connection carries requests (a phone rejoining Wi-Fi), so the first retries
// come soon (1 s, 2 s, 4 s, …) and settle at every 15 seconds.
let quickRetries = 0;

function scheduleRetry() {
  window.clearTimeout(retryTimer);
  let delay = RETRY_MS;
  if (navigator.onLine !== false && quickRetries < 4) {
    delay = 1000 * 2 ** quickRetries;
    quickRetries += 1;
  }
  retryTimer = window.setTimeout(send, delay);
}

// Sends the waiting submission, if any. Never sends two at once.
async function send() {
  const entry = load();
  if (sending) {
    sendAgain = true;
    return;
  }
  if (!entry || leaving) {
    return;
  }
  sendAgain = false;
  const form = formNamed(entry.form);
  sending = true;
  busy(form, true);
  const body = new URLSearchParams(entry.fields);
  // The form token of the page now open (a new sign-in gives a new one).
  body.set('csrf', form.elements.csrf.value);
  body.set('idempotency_key', entry.key);
  let response;
  try {
    // (form.action would be the buttons named "action", not the address.)
    response = await fetch(form.getAttribute('action'), {
      method: 'POST',
      body,
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
  } catch {
    sending = false;
    busy(form, false);
    say(form, `Not sent yet: saved on this device at ${hhmm(entry.queuedAt)} — will send when you are back online.`);
    if (sendAgain) {
      window.setTimeout(send, 0);
    } else {
      scheduleRetry();
    }
    return;
  }
  sending = false;
  quickRetries = 0;
  if (response.ok) {
    const answer = await response.json().catch(() => ({}));
    // Kept until the page has moved on: a tap now sends this key again.
    answered = entry;
    leaving = true;
    forget(entry.key);
    say(form, 'Sent. Opening the confirmation…');
    window.location.assign(answer.redirect || window.location.pathname);
    return;
  }
  busy(form, false);
  if (response.status === 401) {
    say(form, 'Saved on this device, but you have been signed out. Sign in again and it will be sent.');
    return;
  }
  if (response.status === 422 || response.status === 400 || response.status === 403 || response.status === 404) {
    // The server will not take it as it is: show its answer on the page, as without JavaScript.
    forget(entry.key);
    if (response.status === 422 && entry.fields.length) {
      submitNatively(form, entry);
      return;
    }
    const answer = await response.json().catch(() => ({}));
    say(form, `Not saved: ${answer.error || 'the update was refused'}.`);
    return;
  }
  if (response.status === 409) {
    const answer = await response.json().catch(() => ({}));
    if (/already used/.test(answer.error || '')) {
      // The key went with other figures before: these figures need a key of their own.
      store({ ...entry, key: freshKey(form) });
      window.setTimeout(send, 0);
      return;
    }
  }
  // 409 (being saved, or changed at the same moment), 429, 5xx: try again shortly.
  say(form, `Not sent yet: saved on this device at ${hhmm(entry.queuedAt)} — sending again shortly.`);
  scheduleRetry();
}

// Puts a waiting entry's figures back into the form (a page opened while it waits).
function restore(form, entry) {
  for (const [name, value] of entry.fields) {
    if (name === 'action' || name === 'csrf') continue;
    for (const field of form.querySelectorAll(`[name="${CSS.escape(name)}"]`)) {
      if (field.type === 'radio') {
        field.checked = field.value === value;
        if (field.checked) field.dispatchEvent(new Event('change', { bubbles: true }));
      } else {
        field.value = value;
      }
    }
  }
}

// Lets the browser post the same fields the ordinary way, so the server's error page shows them.
function submitNatively(form, entry) {
  form.dataset.native = 'true';
  restore(form, entry);
  // requestSubmit, not click(): the NHS.UK button ignores a second click within a second.
  const button = form.querySelector(`button[name="action"][value="${entry.action}"]`);
  form.requestSubmit(button || undefined);
}

function freshKey(form) {
  if (window.crypto && typeof window.crypto.randomUUID === 'function') {
    return window.crypto.randomUUID();
  }
  return `${form.elements.idempotency_key.value}-${Date.now().toString(36)}`;
}

function sameFields(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

for (const form of forms) {
  form.addEventListener('submit', (event) => {
    if (form.dataset.native === 'true') {
      return;
    }
    event.preventDefault();
    const action = event.submitter && event.submitter.value === 'unchanged' ? 'unchanged' : 'save';
    const fields = [...new FormData(form).entries()]
      .filter(([name]) => name !== 'csrf' && name !== 'idempotency_key');
    fields.push(['action', action]);
    const waiting = load();
    // The same figures again (a second tap, a resend) keep their key — also after the server has
    // answered and until the page has moved on; other figures get a new one.
    let key = form.elements.idempotency_key.value;
    if (answered && answered.form === form.dataset.outbox && sameFields(answered.fields, fields)) {
      key = answered.key;
    } else if (waiting && waiting.form === form.dataset.outbox && sameFields(waiting.fields, fields)) {
      key = waiting.key;
    } else if (waiting || answered || form.dataset.keyUsed === 'true') {
      key = freshKey(form);
    }
    if (leaving && answered && key === answered.key) {
      // Already accepted; the confirmation is on its way.
      return;
    }
    leaving = false;
    answered = null;
    form.dataset.keyUsed = 'true';
    const entry = {
      form: form.dataset.outbox,
      key,
      fields,
      action,
      queuedAt: new Date().toISOString(),
    };
    if (!store(entry)) {
      // No storage on this device (private mode): send the ordinary way.
      form.dataset.native = 'true';
      form.requestSubmit(event.submitter || undefined);
      return;
    }
    say(form, 'Sending…');
    send();
  });
}

// "Why is the home closed?" is shown only under "Closed to admissions": the NHS.UK conditional
// reveal, done here rather than by nhsuk-frontend's radios, which put aria-expanded on the radio
// (an attribute ARIA does not allow on a radio; axe's aria-allowed-attr). Without JavaScript the
// question is always shown.
const closureReveal = document.getElementById('conditional-closed-yes');
if (closureReveal) {
  const closedRadio = document.getElementById('closed-yes');
  const syncReveal = () => {
    closureReveal.classList.toggle('nhsuk-radios__conditional--hidden', !(closedRadio && closedRadio.checked));
  };
  for (const radio of document.querySelectorAll('input[name="closed_to_admissions"]')) {
    radio.addEventListener('change', syncReveal);
  }
  syncReveal();
}

window.addEventListener('online', () => {
  quickRetries = 0;
  send();
});
// Back from the browser's cache (the back button): the page may move on again.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) {
    leaving = false;
  }
});

const waiting = load();
if (waiting) {
  const form = formNamed(waiting.form);
  restore(form, waiting);
  say(form, `Not sent yet: an update saved on this device at ${hhmm(waiting.queuedAt)} — sending now.`);
  send();
}

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/care-homes/service-worker.js', { scope: '/care-homes/' }).catch(() => {
    // Without it the form still works; only an offline reload shows the browser's own page.
  });
}
