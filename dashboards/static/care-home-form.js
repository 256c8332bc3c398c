// The care-home form through a dropped connection.
//
// Without this script the form posts as any form does. With it, a submission is first written to
// this device (localStorage), then sent with `Accept: application/json` and the idempotency key the
// server put in the form. If it cannot be sent, the page says so plainly and the submission is sent
// by itself when the connection returns: on the browser's `online` event, every 15 seconds while one
// waits, and whenever the page is opened again. The same key goes with every attempt, so however
// often it is sent the server applies it once. A newer submission replaces an unsent older one.
// "Saved" is only ever shown by the server's page, after the platform accepted the update.

const form = document.getElementById('vacancy-form');
const home = document.body.dataset.home;
const outbox = document.getElementById('outbox');
const outboxMessage = document.getElementById('outbox-message');
const storageKey = `pf-care-home-outbox:${home}`;
const RETRY_MS = 15000;

let sending = false;
let retryTimer = null;

function hhmm(iso) {
  return new Date(iso).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'Europe/London' });
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

function say(text) {
  outboxMessage.textContent = text;
  outbox.hidden = false;
}

function scheduleRetry() {
  window.clearTimeout(retryTimer);
  retryTimer = window.setTimeout(send, RETRY_MS);
}

// Sends the waiting submission, if any. Never sends two at once.
async function send() {
  const entry = load();
  if (!entry || sending) {
    return;
  }
  sending = true;
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
    say(`Saved on this device at ${hhmm(entry.queuedAt)} — will send when you are back online.`);
    scheduleRetry();
    return;
  }
  sending = false;
  if (response.ok) {
    const answer = await response.json().catch(() => ({}));
    forget(entry.key);
    window.location.assign(answer.redirect || window.location.pathname);
    return;
  }
  if (response.status === 401) {
    say('Saved on this device, but you have been signed out. Sign in again and it will be sent.');
    return;
  }
  if (response.status === 422 || response.status === 400 || response.status === 403 || response.status === 404) {
    // The server will not take it as it is: show its answer on the page, as without JavaScript.
    forget(entry.key);
    if (response.status === 422 && entry.fields.length) {
      submitNatively(entry);
      return;
    }
    const answer = await response.json().catch(() => ({}));
    say(`Not saved: ${answer.error || 'the update was refused'}.`);
    return;
  }
  if (response.status === 409) {
    const answer = await response.json().catch(() => ({}));
    if (/already used/.test(answer.error || '')) {
      // The key went with other figures before: these figures need a key of their own.
      store({ ...entry, key: freshKey() });
      window.setTimeout(send, 0);
      return;
    }
  }
  // 409 (being saved, or changed at the same moment), 429, 5xx: try again shortly.
  say(`Saved on this device at ${hhmm(entry.queuedAt)} — sending again shortly.`);
  scheduleRetry();
}

// Lets the browser post the same fields the ordinary way, so the server's error page shows them.
function submitNatively(entry) {
  form.dataset.native = 'true';
  for (const [name, value] of entry.fields) {
    if (name === 'action' || name === 'csrf') continue;
    for (const field of form.querySelectorAll(`[name="${CSS.escape(name)}"]`)) {
      if (field.type === 'radio') {
        field.checked = field.value === value;
      } else {
        field.value = value;
      }
    }
  }
  // requestSubmit, not click(): the NHS.UK button ignores a second click within a second.
  const button = form.querySelector(`button[name="action"][value="${entry.action}"]`);
  form.requestSubmit(button || undefined);
}

function freshKey() {
  if (window.crypto && typeof window.crypto.randomUUID === 'function') {
    return window.crypto.randomUUID();
  }
  return `${form.elements.idempotency_key.value}-${Date.now().toString(36)}`;
}

function sameFields(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

form.addEventListener('submit', (event) => {
  if (form.dataset.native === 'true') {
    return;
  }
  event.preventDefault();
  const action = event.submitter && event.submitter.value === 'unchanged' ? 'unchanged' : 'save';
  const fields = [...new FormData(form).entries()]
    .filter(([name]) => name !== 'csrf' && name !== 'idempotency_key');
  fields.push(['action', action]);
  // The same figures again (a second tap, a resend) keep their key; other figures get a new one.
  const waiting = load();
  let key = form.elements.idempotency_key.value;
  if (waiting && sameFields(waiting.fields, fields)) {
    key = waiting.key;
  } else if (waiting || form.dataset.keyUsed === 'true') {
    key = freshKey();
  }
  form.dataset.keyUsed = 'true';
  const entry = {
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
  say('Sending…');
  send();
});

window.addEventListener('online', send);

const waiting = load();
if (waiting) {
  say(`An update saved on this device at ${hhmm(waiting.queuedAt)} has not been sent yet — sending now.`);
  send();
}
