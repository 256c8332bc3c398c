// Browser tests of the care-home vacancy form, driven as a care-home nurse would, against a running
// platform (care-homes service, identity service, projection, gateway):
//
//   PF_CARE_HOMES_URL=http://127.0.0.1:PORT      the care-homes service
//   PF_GATEWAY_URL=http://127.0.0.1:PORT         the gateway (its websocket shows what the form saved)
//   PF_SESSION_COOKIE=…                          a control-room viewer's session, for that websocket
//   PF_SIGN_IN_LINK_JS=http://…/sign-in/link/…   two unused sign-in links of a care-home editor of
//   PF_SIGN_IN_LINK_NOJS=http://…/sign-in/link/… PF_TEST_HOME (one for each browser context)
//   PF_TEST_HOME=1-000000001                     a home with residential and residential dementia beds
//   PF_CARE_HOMES_TOKEN=…                        a token that may read PF_TEST_HOME through the API
//   PF_SIGN_IN_LINK_DEVICE=…, PF_SIGN_IN_LINK_DEVICE_NOJS=…   two links of another editor of PF_TEST_HOME
//   PF_DEVICE_PERSON=…                           that editor's id
//   PF_ADMIN_SESSION=…                           a system administrator's identity session
//   [PF_CHROMIUM=/usr/bin/chromium]
//   node --test tests/care-home-form.test.mjs
//
// 1. Sign in with a link; the empty form.  2. Save two categories; a websocket client sees them;
// "Nothing has changed" is on the first screen and confirmed in its own words.  3. A mistake comes
// back with the error summary (sentence case) and what was typed; the closure reason shows only
// under "Closed to admissions".  4. Offline: kept on the device, said beside the Save button (a live
// region), still shown after a reload while offline (the service worker), sent by itself once back
// online, applied exactly once.  5. On a slow connection, taps on Save while the save is in flight
// and after its answer (before the "Saved" page) are one update, under one key.  6. The same with
// JavaScript off.  8. A manager keeps their own phone signed in: no new link when the session ends,
// updates still theirs; an administrator sees and revokes the device; all audited (with and without
// JavaScript).  axe-core (WCAG 2.2 AA) checks every state at 360 px and 1280 px wide. Nothing is
// skipped: missing settings fail the run with a message saying what to set.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const CHROMIUM = process.env.PF_CHROMIUM || '/usr/bin/chromium';
// Every wait is bounded: a stall fails with a message, never hangs the run.
const WAIT_MS = 15_000; // one page, element or request
const TEST_MS = 180_000; // one numbered test, whole

function settings() {
  const names = ['PF_CARE_HOMES_URL', 'PF_GATEWAY_URL', 'PF_SESSION_COOKIE', 'PF_SIGN_IN_LINK_JS',
    'PF_SIGN_IN_LINK_NOJS', 'PF_SIGN_IN_LINK_SIGN_OUT', 'PF_IDENTITY_URL', 'PF_TEST_HOME', 'PF_CARE_HOMES_TOKEN',
    'PF_SIGN_IN_LINK_DEVICE', 'PF_SIGN_IN_LINK_DEVICE_NOJS', 'PF_DEVICE_PERSON', 'PF_ADMIN_SESSION'];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`care-home form browser tests need these environment variables: ${missing.join(', ')}`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PF_CHROMIUM`);
  }
  const trim = (u) => u.replace(/\/+$/, '');
  return {
    careHomes: trim(process.env.PF_CARE_HOMES_URL),
    gateway: trim(process.env.PF_GATEWAY_URL),
    viewerSession: process.env.PF_SESSION_COOKIE,
    linkJs: process.env.PF_SIGN_IN_LINK_JS,
    linkNoJs: process.env.PF_SIGN_IN_LINK_NOJS,
    linkSignOut: process.env.PF_SIGN_IN_LINK_SIGN_OUT,
    identity: trim(process.env.PF_IDENTITY_URL),
    home: process.env.PF_TEST_HOME,
    token: process.env.PF_CARE_HOMES_TOKEN,
    linkDevice: process.env.PF_SIGN_IN_LINK_DEVICE,
    linkDeviceNoJs: process.env.PF_SIGN_IN_LINK_DEVICE_NOJS,
    devicePerson: process.env.PF_DEVICE_PERSON,
    adminSession: process.env.PF_ADMIN_SESSION,
  };
}

let cfg;
let browser;
let nurse; // the signed-in nurse's context and page (JavaScript on), shared by the tests in order
let watcher; // a control-room viewer's page with a websocket that records care-home figures

before(async () => {
  cfg = settings();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

/** The contexts made with JavaScript off. */
const withoutJavaScript = new WeakSet();

/** A browser context whose every action, wait and navigation gives up after WAIT_MS. */
async function newContext(options) {
  const context = await browser.newContext(options);
  if (options?.javaScriptEnabled === false) withoutJavaScript.add(context);
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  return context;
}

/** The home's version and figures, read through the API (the platform's own record). */
async function homeRecord() {
  const res = await fetch(`${cfg.careHomes}/api/v1/care-homes/${cfg.home}`, {
    headers: { authorization: `Bearer ${cfg.token}` },
    signal: AbortSignal.timeout(WAIT_MS),
  });
  assert.equal(res.status, 200, `GET home answered ${res.status}`);
  return res.json();
}

function formUrl() {
  return `${cfg.careHomes}/care-homes/${cfg.home}`;
}

/** Signs in with a sign-in link in `context`; returns the page on the home's form. With
 * `checkPages`, the sign-in pages on the way are checked with axe-core too. */
async function signInWithLink(context, link, checkPages = false) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  if (checkPages) {
    await page.goto(`${new URL(link).origin}/sign-in`);
    await assertAccessible(page, 'sign-in page');
    const listed = await page.locator('main').textContent();
    assert.doesNotMatch(listed, /1-\d{6,}/, 'the sign-in page names homes, not CQC ids');
    assert.match(listed, /\(demo\)/, 'the demo homes are named');
  }
  await page.goto(link);
  if (checkPages) {
    await assertAccessible(page, 'sign-in link page');
  }
  await page.getByRole('button', { name: /continue/i }).click();
  await page.waitForURL(`${cfg.careHomes}/care-homes**`);
  // An editor of several homes chooses one; of one home, lands on its form.
  if (!page.url().startsWith(formUrl())) {
    await page.locator(`a[href="/care-homes/${cfg.home}"]`).click();
    await page.waitForURL(`${formUrl()}**`);
  }
  return { page, errors };
}

/** `promise`, or a failure naming `what` if it has not settled within WAIT_MS. (For waits that
 * Playwright's default timeouts do not cover, such as page.evaluate.) */
async function within(promise, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${WAIT_MS} ms for ${what}`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs axe-core on the page as it is, at a phone and a desktop width. axe-core is a script, and
 * a page with JavaScript off runs none (its timers never fire, so axe.run would never finish):
 * such a page is checked as a copy of its document, shown with its own scripts blocked, in a
 * context where the test may run axe. */
async function assertAccessible(page, state) {
  if (withoutJavaScript.has(page.context())) {
    const html = await page.content();
    const url = page.url();
    const copy = await newContext({ viewport: { width: 360, height: 740 } });
    try {
      await copy.route('**/*', (route) => {
        const request = route.request();
        if (request.url() === url && request.resourceType() === 'document') {
          return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
        }
        if (request.resourceType() === 'script') return route.abort();
        return route.continue();
      });
      const shown = await copy.newPage();
      await shown.goto(url);
      assert.equal(await shown.locator('body.js-enabled, body.nhsuk-frontend-supported').count(), 0,
        `the copy of the ${state} ran the page's scripts`);
      await checkWithAxe(shown, state);
    } finally {
      await copy.close();
    }
    return;
  }
  await checkWithAxe(page, state);
}

async function checkWithAxe(page, state) {
  for (const viewport of [{ width: 360, height: 740 }, { width: 1280, height: 800 }]) {
    await page.setViewportSize(viewport);
    // Evaluated through the browser's debugging protocol, so the page's CSP (rightly) stays on.
    if (!(await within(page.evaluate(() => typeof window.axe !== 'undefined'), `axe-core on the ${state}`))) {
      await within(page.evaluate(AXE_SOURCE), `axe-core to load on the ${state}`);
    }
    const violations = await within(page.evaluate(async (tags) => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      return r.violations.map((v) => `[${v.impact}] ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
    }, AXE_TAGS), `axe-core to check the ${state}`);
    assert.deepEqual(violations, [], `axe on the ${state} at ${viewport.width} px:\n${violations.join('\n')}`);
    const overflow = await within(page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
      `the width of the ${state}`);
    assert.ok(overflow <= 0, `the ${state} is ${overflow} px wider than a ${viewport.width} px screen`);
  }
}

/** Whether the element is wholly on the screen as it is scrolled now, at a phone's width. */
async function onScreen(page, selector) {
  return page.locator(selector).evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
  });
}

/** A gate: `wait()` until `open()`, failing with `what` if it stays shut for WAIT_MS. */
function gate(what) {
  let open;
  const opened = new Promise((resolve) => { open = resolve; });
  const wait = () => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`waited ${WAIT_MS} ms for ${what}`)), WAIT_MS);
    opened.then(() => { clearTimeout(timer); resolve(); });
  });
  return { open, wait };
}

/** Fills the Capacity Tracker's figures: `residential` and `dementia` vacant beds accepting admissions,
 * none reserved, a maximum capacity of the registered 30 beds and the rest occupied. */
async function fill(page, residential, dementia) {
  await page.fill('#maximum_capacity', '30');
  await page.fill('#occupied', String(Math.max(0, 30 - Number(residential) - Number(dementia))));
  await page.fill('#vacancies-residential-accepting', String(residential));
  await page.fill('#vacancies-residential-reserved', '0');
  await page.fill('#vacancies-residential_dementia-accepting', String(dementia));
  await page.fill('#vacancies-residential_dementia-reserved', '0');
}

test('1: a nurse signs in with a link and sees the empty form', { timeout: TEST_MS }, async () => {
  const context = await newContext({ viewport: { width: 360, height: 740 } });
  const { page, errors } = await signInWithLink(context, cfg.linkJs, true);
  nurse = { context, page, errors };
  await assert.doesNotReject(page.getByRole('heading', { name: /No figures yet/ }).waitFor());
  assert.equal(await page.locator('#vacancies-residential-accepting').inputValue(), '0');
  assert.equal(await page.locator('body.js-enabled').count(), 1, 'the page scripts run');
  assert.equal(await page.locator('#unchanged-form').count(), 0, 'nothing to confirm before the first figures');
  await assertAccessible(page, 'empty form');
  // The service worker (same origin, for offline reloads) takes charge of the form.
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  assert.equal(scope, `${cfg.careHomes}/care-homes/`);

  // A control-room viewer's websocket records every care-home figure it is sent.
  const viewer = await newContext();
  await viewer.addCookies([{ name: 'pf_session', value: cfg.viewerSession, url: cfg.gateway, httpOnly: true, sameSite: 'Lax' }]);
  const watch = await viewer.newPage();
  await watch.goto(`${cfg.gateway}/control-room`);
  await watch.evaluate((url) => new Promise((resolve) => {
    window.pfCareHomes = [];
    const socket = new WebSocket(url);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.care_homes) window.pfCareHomes.push({ at: Date.now(), system: message.care_homes.system });
      if (message.type === 'snapshot') resolve();
    };
  }), `${cfg.gateway.replace(/^http/, 'ws')}/ws/control-room`);
  watcher = { context: viewer, page: watch };
});

test('2: saving two categories takes one tap, and a websocket client sees the figures', { timeout: TEST_MS }, async () => {
  const { page } = nurse;
  const before = await homeRecord();
  await fill(page, 2, 1);
  const tapped = await page.evaluate(() => Date.now());
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#saved').waitFor().catch(async (err) => {
    const outbox = await page.locator('#outbox').textContent();
    throw new Error(`no confirmation: ${err.message}; page says ${JSON.stringify(outbox)}; errors: ${nurse.errors.join('; ')}; at ${page.url()}`);
  });
  assert.match(await page.locator('#saved').textContent(), /Your update was saved at \d{2}:\d{2}/);
  const after = await homeRecord();
  assert.equal(after.version, before.version + 1);
  assert.equal(after.vacancies.find((v) => v.category === 'residential').available, 2);
  assert.equal(after.vacancies.find((v) => v.category === 'residential_dementia').available, 1);

  const seen = await watcher.page.waitForFunction(
    () => window.pfCareHomes.find((m) => m.system.available >= 3), null, { timeout: WAIT_MS },
  );
  const arrival = await seen.jsonValue();
  console.log(`care-home form: tap on Save to the figures on a websocket client: ${arrival.at - tapped} ms`);
  assert.equal(await page.locator('#vacancies-residential-accepting').inputValue(), '2', 'the form shows what was saved');
  assert.match(await page.locator('#last-update').textContent(), /Last updated at \d{2}:\d{2}/);
  await assertAccessible(page, 'saved form');
});

test('2b: "Nothing has changed" is on the first screen of a phone and confirmed in its own words', { timeout: TEST_MS }, async () => {
  const { page } = nurse;
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(formUrl());
  const unchanged = page.getByRole('button', { name: 'Nothing has changed' });
  assert.equal(await unchanged.count(), 1, 'one "Nothing has changed" button');
  assert.ok(await onScreen(page, '#unchanged-form button'), '"Nothing has changed" is on the first screen at 360 × 740');
  const before = await homeRecord();
  await unchanged.click();
  await page.locator('#saved').waitFor();
  const banner = await page.locator('#saved').textContent();
  assert.match(banner, /Figures confirmed unchanged at \d{2}:\d{2}/);
  assert.doesNotMatch(banner, /Your update was saved/);
  const london = new Date().toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'Europe/London' });
  const shown = banner.match(/unchanged at (\d{2}:\d{2})/)[1];
  const minutes = (t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3));
  // Minutes apart on the clock face: 23:59 and 00:00 are one minute apart across UK midnight.
  const gap = Math.abs(minutes(shown) - minutes(london));
  assert.ok(Math.min(gap, 24 * 60 - gap) <= 1, `the time is UK time (${shown}, now ${london})`);
  const after = await homeRecord();
  assert.equal(after.version, before.version + 1);
  assert.equal(after.vacancies.find((v) => v.category === 'residential').vacant, 2, 'the figures stand');
  await assertAccessible(page, 'confirmed unchanged form');
});

test('2c: the form asks the Capacity Tracker\'s questions; the API and the export give them back', { timeout: TEST_MS }, async () => {
  const { page } = nurse;
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(formUrl());
  for (const label of ['Maximum capacity', 'Occupied beds']) {
    assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, `the form asks "${label}"`);
  }
  assert.equal(await page.getByLabel('Vacant, accepting admissions').count(), 2, 'per category: accepting admissions');
  assert.equal(await page.getByLabel('Vacant, reserved').count(), 2, 'per category: reserved');
  const before = await homeRecord();
  await page.fill('#maximum_capacity', '28');
  await page.fill('#occupied', '23');
  await page.fill('#vacancies-residential-accepting', '2');
  await page.fill('#vacancies-residential-reserved', '1');
  await page.fill('#vacancies-residential_dementia-accepting', '1');
  await page.fill('#vacancies-residential_dementia-reserved', '0');
  await page.getByRole('button', { name: 'Save' }).click();
  // 23 + 4 = 27, not 28: the home is told, in words, before anything is saved.
  await page.locator('.nhsuk-error-summary').waitFor();
  assert.match(await page.locator('.nhsuk-error-summary').textContent(),
    /The occupied beds \(23\) and vacant beds \(4\) add up to 27, not the maximum capacity of 28/);
  await assertAccessible(page, 'figures that do not add up');
  await page.fill('#occupied', '24');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#saved').waitFor();
  const after = await homeRecord();
  assert.equal(after.version, before.version + 1);
  assert.equal(after.maximum_capacity, 28);
  assert.equal(after.occupied, 24);
  const residential = after.vacancies.find((v) => v.category === 'residential');
  assert.deepEqual([residential.accepting_admissions, residential.reserved, residential.vacant], [2, 1, 3]);
  const res = await fetch(`${cfg.careHomes}/api/v1/care-homes/capacity-tracker.csv`, {
    headers: { authorization: `Bearer ${cfg.token}` },
    signal: AbortSignal.timeout(WAIT_MS),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/csv/);
  const lines = (await res.text()).trim().split('\r\n');
  assert.match(lines[0], /^CQC Location ID,Location Name,Postcode,Last Updated,Maximum Capacity,Occupied Beds,Care Type,Vacant Beds Accepting Admissions,Vacant Beds Reserved/);
  assert.ok(lines.some((l) => l.startsWith(`${cfg.home},`) && /,28,24,Residential,2,1,No,,Yes$/.test(l)), lines.join('\n'));
  // Back to the figures the later tests start from.
  await fill(page, 2, 1);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#saved').waitFor();
});

test('3: a mistake comes back with the error summary, keeping what was typed', { timeout: TEST_MS }, async () => {
  const { page } = nurse;
  const before = await homeRecord();
  await fill(page, -1, 1);
  await page.fill('#note', 'Room 4 free from Monday');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('.nhsuk-error-summary').waitFor();
  assert.match(await page.locator('.nhsuk-error-summary').textContent(), /Vacant residential beds accepting admissions must be 0 or more/);
  assert.doesNotMatch(await page.locator('.nhsuk-error-summary').textContent(), /[a-z] [A-Z][a-z]+ beds/, 'sentence case');
  assert.equal(await page.locator('#vacancies-residential-accepting').inputValue(), '-1');
  assert.equal(await page.locator('#note').inputValue(), 'Room 4 free from Monday');
  await assertAccessible(page, 'errors shown form');
  assert.equal((await homeRecord()).version, before.version, 'nothing was saved');
  await page.goto(formUrl());
});

test('3b: the closure reason is asked only under "Closed to admissions"', { timeout: TEST_MS }, async () => {
  const { page } = nurse;
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(formUrl());
  assert.equal(await page.locator('#closure_reason').isVisible(), false, 'no reason asked while open');
  await page.getByLabel('Closed to admissions', { exact: true }).check();
  await page.locator('#closure_reason').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#closed-yes').getAttribute('aria-expanded'), null, 'no aria-expanded on a radio (ARIA does not allow it)');
  await assertAccessible(page, 'closure reason revealed');
  // Closed without a reason: the error points at the (shown) reason.
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('.nhsuk-error-summary').waitFor();
  assert.match(await page.locator('.nhsuk-error-summary').textContent(), /Select why the home is closed to admissions/);
  assert.equal(await page.locator('#closure_reason').isVisible(), true, 'the reason shows with its error');
  await assertAccessible(page, 'closure reason error');
  await page.getByLabel('Open to admissions', { exact: true }).check();
  assert.equal(await page.locator('#closure_reason').isVisible(), false, 'hidden again when open');
  await page.goto(formUrl());
});

test('4: offline, the update is kept on the device and sent once when back online', { timeout: TEST_MS }, async () => {
  const { context, page } = nurse;
  const before = await homeRecord();
  await context.setOffline(true);
  await fill(page, 1, 1);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => /back online/.test(document.getElementById('save-status').textContent));
  assert.match(await page.locator('#save-status').textContent(),
    /Not sent yet: saved on this device at \d{2}:\d{2} — will send when you are back online/);
  assert.equal(await page.locator('#save-status').getAttribute('role'), 'status', 'announced to screen readers');
  assert.equal(await page.locator('#save-status').getAttribute('aria-live'), 'polite');
  assert.ok(await onScreen(page, '#save-status'), 'the offline message is on screen beside the Save button at 360 px');
  assert.ok(await onScreen(page, '#vacancy-form button[value="save"]'), 'the Save button is on screen with it');
  assert.equal(await page.locator('#saved').count(), 0, 'never "saved" before the platform accepted it');
  await assertAccessible(page, 'offline-queued form');

  // A newer change replaces the unsent one.
  await fill(page, 4, 1);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => JSON.parse(localStorage.getItem(`pf-care-home-outbox:${document.body.dataset.home}`) ?? 'null')
    ?.fields.some(([n, v]) => n === 'vacancies.residential.accepting' && v === '4'));
  assert.equal((await homeRecord()).version, before.version, 'nothing reached the platform while offline');

  // A reload while offline: the service worker serves the form, and the waiting figures are in it.
  const reloaded = await page.reload();
  assert.ok(reloaded && reloaded.fromServiceWorker(), 'the offline reload was answered by the service worker');
  await page.waitForFunction(() => /Not sent yet/.test(document.getElementById('save-status').textContent));
  assert.equal(await page.locator('#vacancies-residential-accepting').inputValue(), '4', 'the waiting figures are shown');
  assert.match(await page.locator('#save-status').textContent(), /Not sent yet/);
  await assertAccessible(page, 'form reloaded offline');

  await context.setOffline(false);
  await page.locator('#saved').waitFor({ timeout: WAIT_MS });
  const after = await homeRecord();
  assert.equal(after.version, before.version + 1, 'sent exactly once');
  assert.equal(after.vacancies.find((v) => v.category === 'residential').vacant, 4, 'the newer change won');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing left waiting on the device');
});

test('5: on a slow connection, taps while saving and after the answer make one update', { timeout: TEST_MS }, async () => {
  const { page } = nurse;
  await page.goto(formUrl());
  const before = await homeRecord();
  await fill(page, 3, 0);
  // Every request is slow (as on a poor connection); the first save is held until the test lets it
  // go, and so is the "Saved" page after it, so that taps land in both windows.
  const keys = [];
  const firstPost = gate('the first save to reach the server');
  const releasePost = gate('the test to let the first save go');
  const savedPage = gate('the test to let the "Saved" page go');
  // (On the context, not the page: the "Saved" page is fetched by the service worker, whose
  // requests only the context's routes see.)
  const { context } = nurse;
  await context.route(`${formUrl()}**`, async (route) => {
    const request = route.request();
    await new Promise((r) => setTimeout(r, 200));
    if (request.method() === 'POST') {
      keys.push(new URLSearchParams(request.postData() || '').get('idempotency_key'));
      firstPost.open();
      await releasePost.wait();
    } else if (new URL(request.url()).searchParams.has('saved')) {
      await savedPage.wait();
    }
    await route.continue();
  });
  const save = page.getByRole('button', { name: 'Save' });
  await save.click();
  await firstPost.wait();
  // A person's tap lands whatever the button's aria-disabled says: force past Playwright's check.
  await save.click({ force: true }); // while the first is in flight
  const answered = page.waitForResponse((r) => r.request().method() === 'POST');
  releasePost.open();
  await answered;
  await save.click({ force: true, noWaitAfter: true }).catch(() => {}); // after the answer, before the "Saved" page
  savedPage.open();
  await page.locator('#saved').waitFor({ timeout: WAIT_MS });
  await context.unroute(`${formUrl()}**`);
  assert.equal((await homeRecord()).version, before.version + 1, 'one update, however many taps');
  assert.ok(keys.length >= 1);
  assert.equal(new Set(keys).size, 1, `every send used one idempotency key (${keys.join(', ')})`);
  assert.deepEqual(nurse.errors, [], `page errors: ${nurse.errors.join('; ')}`);
  await nurse.context.close();
  await watcher.context.close();
});

test('6: with JavaScript off the form signs in, saves and confirms', { timeout: TEST_MS }, async () => {
  const context = await newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 740 } });
  try {
    const { page } = await signInWithLink(context, cfg.linkNoJs);
    const before = await homeRecord();
    await fill(page, 5, 2);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#saved').waitFor();
    const after = await homeRecord();
    assert.equal(after.version, before.version + 1);
    assert.equal(after.vacancies.find((v) => v.category === 'residential').vacant, 5);
    // A mistake without JavaScript: the server's error page.
    await fill(page, 99, 2);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.nhsuk-error-summary').waitFor();
    assert.match(await page.locator('.nhsuk-error-summary').textContent(), /30 or fewer/);
    // Without JavaScript the closure reason is always shown, and ignored while the home is open.
    await page.goto(formUrl());
    assert.equal(await page.locator('#closure_reason').isVisible(), true, 'the reason is shown without JavaScript');
    await assertAccessible(page, 'form without JavaScript');
    await page.locator('#closure_reason').selectOption('staffing');
    await page.getByLabel('Open to admissions', { exact: true }).check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#saved').waitFor();
    assert.equal((await homeRecord()).closed_to_admissions, false, 'a reason given while open is ignored');
    // "Nothing has changed": one tap, at the top, confirmed in its own words.
    await page.goto(formUrl());
    assert.ok(await onScreen(page, '#unchanged-form button'), '"Nothing has changed" is on the first screen');
    await page.getByRole('button', { name: 'Nothing has changed' }).click();
    await page.locator('#saved').waitFor();
    assert.match(await page.locator('#saved').textContent(), /Figures confirmed unchanged at \d{2}:\d{2}/);
    assert.equal((await homeRecord()).version, before.version + 3);
    // Two taps on a slow connection: the browser sends the form's one key twice; applied once.
    // The first submission is held until the second tap is made, so that both taps land on this
    // form (a tap on the "Saved" page after it is a new update, rightly under a new key).
    await fill(page, 6, 2);
    const keys = [];
    const secondTap = gate('the second tap on Save');
    await page.route(`${formUrl()}`, async (route) => {
      const request = route.request();
      if (request.method() === 'POST') {
        keys.push(new URLSearchParams(request.postData() || '').get('idempotency_key'));
        if (keys.length === 1) await secondTap.wait();
      }
      await new Promise((r) => setTimeout(r, 400));
      // The browser may have dropped the first submission for the second: nothing to continue then.
      await route.continue().catch(() => {});
    });
    // Taps by the mouse at the button, as a person's: a locator would wait for the first
    // submission's navigation to finish, which is held until the second tap.
    const save = page.getByRole('button', { name: 'Save' });
    await save.scrollIntoViewIfNeeded();
    const box = await save.boundingBox();
    assert.ok(box, 'the Save button is shown');
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2); // while the first is held
    secondTap.open();
    await page.locator('#saved').waitFor({ timeout: WAIT_MS });
    await page.unroute(`${formUrl()}`);
    console.log(`care-home form without JavaScript: two taps on Save sent the form ${keys.length} time(s)`);
    assert.ok(keys.length >= 1);
    assert.equal(new Set(keys).size, 1, `every send used the form's one key (${keys.join(', ')})`);
    assert.equal((await homeRecord()).version, before.version + 4, 'two taps, one update');
  } finally {
    await context.close();
  }
});

test('7: the sign-out page is accessible, and signing out ends the session', { timeout: TEST_MS }, async () => {
  const context = await newContext({ viewport: { width: 360, height: 740 } });
  try {
    const { page } = await signInWithLink(context, cfg.linkSignOut);
    // Other services' "Sign out" links lead here; following the link ends nothing.
    await page.goto(`${cfg.identity}/sign-out`);
    await page.getByRole('heading', { name: 'Sign out of Patient Flow' }).waitFor();
    await assertAccessible(page, 'sign-out page');
    const still = await page.request.get(formUrl(), { maxRedirects: 0 });
    assert.equal(still.status(), 200, 'showing the sign-out page ends nothing');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${cfg.identity}/sign-in**`);
    const after = await page.request.get(formUrl(), { maxRedirects: 0 });
    assert.equal(after.status(), 303, 'the form sends a signed-out person to sign in');
  } finally {
    await context.close();
  }
});

/** The identity service's audit records of `person`, as JSON text, read by the administrator's
 * browser context `admin` (signed in with a session). */
async function auditOf(admin, person) {
  const res = await admin.request.get(`${cfg.identity}/api/v1/audit?person=${encodeURIComponent(person)}&limit=500`);
  assert.equal(res.status(), 200, `audit answered ${res.status()}`);
  return res.text();
}

/** Ends the browser's session the way time does (the session cookie gone), keeping everything else. */
async function sessionEnds(context) {
  await context.clearCookies({ name: 'pf_session' });
}

for (const javaScriptEnabled of [true, false]) {
  const how = javaScriptEnabled ? 'with JavaScript' : 'without JavaScript';
  test(`8: a manager keeps their own phone signed in, and an administrator can revoke it (${how})`, { timeout: TEST_MS }, async () => {
    const context = await newContext({ javaScriptEnabled, viewport: { width: 360, height: 740 } });
    const admin = await newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const { page } = await signInWithLink(context, javaScriptEnabled ? cfg.linkDevice : cfg.linkDeviceNoJs);
      const label = javaScriptEnabled ? 'Manager phone' : 'Manager tablet';
      // From the form: keep this device signed in. (The link goes to the identity service the
      // care-homes service signs in with; this test's identity runs at an address of its own.)
      const keep = page.getByRole('link', { name: 'Keep this phone or tablet signed in' });
      const href = new URL(await keep.getAttribute('href'));
      assert.equal(href.pathname, '/devices/register');
      assert.equal(href.searchParams.get('return_to'), formUrl());
      await page.goto(`${cfg.identity}/devices/register?return_to=${encodeURIComponent(formUrl())}`);
      await page.getByRole('heading', { name: 'Keep this phone or tablet signed in' }).waitFor();
      await assertAccessible(page, `device registration page ${how}`);
      await page.setViewportSize({ width: 360, height: 740 });
      await page.fill('#label', label);
      await page.getByRole('button', { name: 'Keep this device signed in' }).click();
      await page.waitForURL(`${formUrl()}**`);
      const cookie = (await context.cookies(`${cfg.identity}/sign-in`)).find((c) => c.name === 'pf_device');
      assert.ok(cookie, 'the device keeps a credential');
      assert.equal(cookie.httpOnly, true, 'no script can read it');
      assert.equal(cookie.sameSite, 'Lax');
      assert.equal(cookie.path, '/sign-in', 'sent only to sign-in');
      assert.ok(cookie.expires * 1000 - Date.now() > 89 * 24 * 3600 * 1000, 'kept for 90 days');

      // The session ends; the form sends them to sign in, which the device does at once: no link.
      await sessionEnds(context);
      const ended = await page.request.get(formUrl(), { maxRedirects: 0 });
      assert.equal(ended.status(), 303, 'signed out, the form sends them to sign in');
      assert.match(ended.headers().location, /\/sign-in\?return_to=/);
      await page.goto(`${cfg.identity}/sign-in?return_to=${encodeURIComponent(formUrl())}`);
      await page.waitForURL(`${formUrl()}**`);
      assert.match(await page.locator('.pf-sign-out').textContent(), /Signed in as Manager at Sandy House/);
      await assertAccessible(page, `form after a device sign-in ${how}`);
      // An update made now is theirs.
      const before = await homeRecord();
      await page.goto(formUrl());
      await page.getByRole('button', { name: 'Nothing has changed' }).click();
      await page.locator('#saved').waitFor();
      const after = await homeRecord();
      assert.equal(after.version, before.version + 1);
      assert.match(after.last_updated_by, /Manager at Sandy House/, 'the update is attributed to the person');

      // An administrator lists the devices (page and API) and revokes this one.
      await admin.addCookies([{ name: 'pf_session', value: cfg.adminSession, url: cfg.identity, httpOnly: true, sameSite: 'Lax' }]);
      const listed = await admin.request.get(`${cfg.identity}/api/v1/access/devices`);
      assert.equal(listed.status(), 200, await listed.text());
      const devices = (await listed.json()).devices;
      const mine = devices.find((d) => d.principal_id === cfg.devicePerson && d.label === label);
      assert.ok(mine, `the device is listed: ${JSON.stringify(devices)}`);
      assert.ok(!JSON.stringify(devices).includes(cookie.value), 'the list never shows a credential');
      const adminPage = await admin.newPage();
      await adminPage.goto(`${cfg.identity}/admin/devices`);
      await adminPage.getByRole('heading', { name: 'Devices kept signed in' }).waitFor();
      await assertAccessible(adminPage, 'device administration page');
      await adminPage.getByRole('button', { name: `Revoke ${label} of Manager at Sandy House (demo)` }).click();
      await adminPage.locator('#revoked').waitFor();
      assert.match(await adminPage.locator('#revoked').textContent(), new RegExp(`${label} \\(Manager at Sandy House \\(demo\\)\\) no longer stays signed in`));
      await assertAccessible(adminPage, 'device revoked page');

      // Revoked: the next time the session ends, they are asked to sign in again.
      await sessionEnds(context);
      await page.goto(`${cfg.identity}/sign-in?return_to=${encodeURIComponent(formUrl())}`);
      assert.ok(page.url().startsWith(`${cfg.identity}/sign-in`), `still on sign-in: ${page.url()}`);
      await page.getByRole('heading', { name: /sign in/i }).first().waitFor();
      assert.equal((await page.request.get(formUrl(), { maxRedirects: 0 })).status(), 303, 'not signed in');
      assert.equal((await context.cookies(`${cfg.identity}/sign-in`)).some((c) => c.name === 'pf_device'), false, 'the dead credential is removed');

      const trail = await auditOf(admin, cfg.devicePerson);
      for (const action of ['device.register', 'device.sign_in']) {
        assert.ok(trail.includes(`"${action}"`), `the trail records ${action}`);
      }
      assert.ok((await auditOf(admin, 'demo-system-admin')).includes('"device.revoke"'), 'the trail records the revocation');
    } finally {
      await context.close();
      await admin.close();
    }
  });
}
