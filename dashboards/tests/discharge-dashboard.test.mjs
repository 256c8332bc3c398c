// Browser tests of the discharge dashboard, driven as a discharge coordinator and a care home would,
// against a running platform (discharges service with its pages, care-homes service, projection, and
// a gateway that takes the pages' origin):
//
//   PF_DISCHARGES_URL=http://127.0.0.1:PORT     the discharges service (its pages and API)
//   PF_CARE_HOMES_URL=http://127.0.0.1:PORT     the care-homes service (the home's page)
//   PF_GATEWAY_URL=http://127.0.0.1:PORT        the gateway (control room; /ws/discharges)
//   PF_COORDINATOR_SESSION=…                    a discharge coordinator's session (of the patient's trust)
//   PF_HOME_SESSION=…                           a care-home editor's session for PF_TEST_HOME
//   PF_VIEWER_SESSION=…                         a control-room viewer's session (no discharge role)
//   PF_TEST_HOME=1-000000001                    a home with free residential beds near the patient
//   PF_DISCHARGE_ID=…                           a waiting pathway-3 patient needing a residential bed
//   PF_NHS_NUMBER="999 000 0007"                the patient's NHS number
//   [PF_CHROMIUM=/usr/bin/chromium]
//   node --test tests/discharge-dashboard.test.mjs
//
// 1. The list (NHS number masked); someone without the role gets a 403 page.  2. The patient opened
// (NHS number shown), the matching home, a bed held.  3. The home accepts in another browser; the
// coordinator's page says so without a reload.  4. A refusal shows the error summary.  5. The
// discharge is confirmed and the home's vacancy drops on the control room.  axe-core (WCAG 2.2 AA)
// checks every state at 1366×768 and 360 px wide, and no page is wider than the screen.  Every
// request every page makes is recorded: none may go to another host (no external fonts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const CHROMIUM = process.env.PF_CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 15_000;
const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 360, height: 740 };

function settings() {
  const names = ['PF_DISCHARGES_URL', 'PF_CARE_HOMES_URL', 'PF_GATEWAY_URL', 'PF_COORDINATOR_SESSION',
    'PF_HOME_SESSION', 'PF_VIEWER_SESSION', 'PF_TEST_HOME', 'PF_DISCHARGE_ID', 'PF_NHS_NUMBER'];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`discharge dashboard browser tests need these environment variables: ${missing.join(', ')}`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PF_CHROMIUM`);
  }
  const trim = (u) => u.replace(/\/+$/, '');
  return {
    discharges: trim(process.env.PF_DISCHARGES_URL),
    careHomes: trim(process.env.PF_CARE_HOMES_URL),
    gateway: trim(process.env.PF_GATEWAY_URL),
    coordinatorSession: process.env.PF_COORDINATOR_SESSION,
    homeSession: process.env.PF_HOME_SESSION,
    viewerSession: process.env.PF_VIEWER_SESSION,
    home: process.env.PF_TEST_HOME,
    id: process.env.PF_DISCHARGE_ID,
    nhsNumber: process.env.PF_NHS_NUMBER,
    newNhsNumber: process.env.PF_NEW_NHS_NUMBER || '999 000 0015',
    liveNhsNumber: process.env.PF_LIVE_NHS_NUMBER || '999 000 0023',
  };
}

let cfg;
let browser;
const offSite = []; // requests any page made to another host
let addedId; // the patient added through the form

function siteHosts() {
  return new Set([cfg.discharges, cfg.careHomes, cfg.gateway].map((u) => new URL(u).hostname));
}
let coordinator; // {context, page, errors}
let watcher; // a control-room viewer's page recording the care homes' figures

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

/** Fails when any page so far asked another host for anything (fonts included). */
function assertNothingLeftTheSite() {
  assert.deepEqual(offSite, [], `requests that left the site:\n${offSite.join('\n')}`);
}

/** A browser context signed in with `session` (the cookie is per host, so it reaches every service). */
async function signedIn(session, viewport = LAPTOP) {
  const context = await browser.newContext({ viewport });
  await context.addCookies([{ name: 'pf_session', value: session, url: cfg.discharges, httpOnly: true, sameSite: 'Lax' }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // No request leaves the site: every request goes to the platform's own hosts.
  context.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol === 'data:' || url.protocol === 'blob:') return;
    if (!siteHosts().has(url.hostname)) offSite.push(request.url());
  });
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to connect/i.test(msg.text())) errors.push(msg.text());
  });
  return { context, page, errors };
}

/** Runs axe-core on the page as it is at a laptop and a phone width; checks nothing overflows. */
async function assertAccessible(page, state) {
  for (const viewport of [LAPTOP, PHONE]) {
    await page.setViewportSize(viewport);
    // Evaluated through the browser's debugging protocol, so the page's CSP (rightly) stays on.
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
      await page.evaluate(AXE_SOURCE);
    }
    const violations = await page.evaluate(async (tags) => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      return r.violations.map((v) => `[${v.impact}] ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
    }, AXE_TAGS);
    assert.deepEqual(violations, [], `axe on the ${state} at ${viewport.width} px:\n${violations.join('\n')}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the ${state} is ${overflow} px wider than a ${viewport.width} px screen`);
  }
  await page.setViewportSize(LAPTOP);
  // Fonts are fetched once the text is laid out: wait for them before looking.
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
  assertNothingLeftTheSite();
}

function patientUrl() {
  return `${cfg.discharges}/discharges/${cfg.id}`;
}

const masked = () => `*** *** ${cfg.nhsNumber.slice(-4)}`;

test('1: the list shows the waiting patient with the NHS number masked; others are refused', async () => {
  coordinator = await signedIn(cfg.coordinatorSession);
  const { page } = coordinator;
  await page.goto(`${cfg.discharges}/discharges`);
  assert.doesNotMatch(await page.locator('.nhsuk-caption-l').textContent(), /\bRWE\b/, 'trust names, not codes');
  const row = page.locator(`tr[data-discharge="${cfg.id}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp(masked().replace(/\*/g, '\\*')));
  assert.doesNotMatch(await page.content(), new RegExp(cfg.nhsNumber), 'the full NHS number is not on the list');
  assert.match(await row.textContent(), /Find and hold a bed/);
  assert.equal(await page.locator('body.js-enabled').count(), 1, 'the page scripts run');
  await assertAccessible(page, 'discharge list');

  const outsider = await signedIn(cfg.viewerSession);
  const answer = await outsider.page.goto(`${cfg.discharges}/discharges`);
  assert.equal(answer.status(), 403);
  await assert.doesNotReject(outsider.page.getByRole('heading', { name: 'You cannot see the discharge list' }).waitFor());
  await outsider.context.close();
});

test("1b: a patient is added in the browser: the API's sentences in an error summary, then the patient opened", async () => {
  const { page } = coordinator;
  await page.goto(`${cfg.discharges}/discharges`);
  await page.getByRole('link', { name: 'Add a patient' }).click();
  await page.waitForURL(`${cfg.discharges}/discharges/new`);
  await assertAccessible(page, 'add-a-patient form');

  // A mistyped NHS number, no sex, a date in the future, pathway 3 without the care needed.
  await page.getByLabel('NHS number').fill('999 000 0001');
  await page.getByLabel('Hospital site').selectOption({ index: 1 });
  await page.getByLabel('Ward code').fill('WD15');
  await page.getByLabel('Day').fill('1');
  await page.getByLabel('Month').fill('1');
  await page.getByLabel('Year').fill('2099');
  await page.getByLabel('Pathway 3: new care-home placement').check();
  await page.getByLabel('Care needs in a few words').fill('Needs a hoist');
  await page.getByRole('button', { name: 'Add the patient' }).click();
  const summary = page.locator('.nhsuk-error-summary');
  await summary.waitFor();
  assert.match(await page.title(), /^Error: /);
  const text = await summary.textContent();
  assert.match(text, /There is a problem/);
  assert.match(text, /not a valid NHS number/i, 'the API\'s own sentence');
  assert.match(text, /Select the patient's sex/);
  assert.match(text, /today or in the past/);
  assert.match(text, /Select the care needed/);
  assert.match(await page.locator('#nhs_number-error').textContent(), /Error:.*NHS number/);
  assert.equal(await page.getByLabel('NHS number').inputValue(), '999 000 0001', 'what was typed is kept');
  assert.equal(await page.getByLabel('Care needs in a few words').inputValue(), 'Needs a hoist');
  await summary.getByRole('link', { name: /NHS number/ }).click();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'nhs_number', 'the summary links to the field');
  await assertAccessible(page, 'add-a-patient form with errors');

  await page.getByLabel('NHS number').fill(cfg.newNhsNumber);
  await page.getByLabel('Female').check();
  await page.getByLabel('Year').fill(String(new Date().getFullYear() - 1));
  await page.getByLabel('Care needed (pathways 2 and 3)').selectOption('residential');
  await page.getByLabel('Postcode to search from (pathways 2 and 3)').fill('LE2 7LX');
  await page.getByRole('button', { name: 'Add the patient' }).click();
  await page.locator('#done').waitFor();
  assert.match(await page.locator('#done').textContent(), /Patient added/);
  assert.equal(await page.locator('#nhs-number').textContent(), cfg.newNhsNumber);
  addedId = new URL(page.url()).pathname.split('/').pop();
  await assertAccessible(page, 'patient just added');
});

test('1c: the list is worked full width: filters, sorts and an audited search by NHS number, all in the query string', async () => {
  const { page } = coordinator;
  await page.goto(`${cfg.discharges}/discharges`);
  const ids = () => page.locator('tr[data-discharge]').evaluateAll((rows) => rows.map((r) => r.dataset.discharge));
  assert.deepEqual(await ids(), [addedId, cfg.id], 'longest wait first');
  const row = page.locator(`tr[data-discharge="${cfg.id}"]`);
  assert.match(await row.textContent(), /Awaiting a care-home place/, 'the delay reason is on the list');
  assert.match(await row.textContent(), /Held bed None/, 'the held bed is on the list');
  // Full width on a laptop: no 960 px container, and no value wraps mid-way.
  const tableWidth = await page.locator('#patients').evaluate((t) => t.getBoundingClientRect().width);
  assert.ok(tableWidth > 1200, `the list is ${tableWidth} px wide on a 1366 px screen`);
  const wrapped = await page.locator('.pf-nowrap').evaluateAll((spans) => spans.filter((s) => s.getClientRects().length > 1).map((s) => s.textContent));
  assert.deepEqual(wrapped, [], 'NHS numbers, dates and day counts stay on one line');
  await assertAccessible(page, 'list with filters');

  await page.getByLabel('Delay reason').selectOption('awaiting_care_home_place');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/delay_reason=awaiting_care_home_place/);
  assert.deepEqual(await ids(), [cfg.id]);
  assert.match(await page.locator('#list-count').textContent(), /Showing 1 of 2 patients/);
  await assertAccessible(page, 'list filtered');

  await page.goto(`${cfg.discharges}/discharges`);
  await page.getByLabel('Sort by').selectOption('ready-newest');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/sort=ready-newest/);
  assert.deepEqual(await ids(), [cfg.id, addedId], 'latest Discharge Ready Date first');

  await page.getByLabel('Find a patient by NHS number').fill('123 456');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('.nhsuk-error-summary').waitFor();
  assert.match(await page.title(), /^Error: /);
  await assertAccessible(page, 'search with a mistyped NHS number');
  await page.getByLabel('Find a patient by NHS number').fill(cfg.nhsNumber.replace(/ /g, ''));
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/nhs_number=/);
  assert.deepEqual(await ids(), [cfg.id], 'the search finds the one patient');
  await assertAccessible(page, 'search result');
});

test('1d: the list stays right live: a new patient appears at the end, a leaver is marked then taken away, the count stays true', async () => {
  const { page } = coordinator;
  await page.goto(`${cfg.discharges}/discharges`);
  await page.waitForFunction(() => document.body.classList.contains('js-enabled'));
  await page.evaluate(() => { window.pfNotReloaded = true; });
  const ids = () => page.locator('tr[data-discharge]').evaluateAll((rows) => rows.map((r) => r.dataset.discharge));
  const before = await ids();
  assert.match(await page.locator('#list-count').textContent(), new RegExp(`^${before.length} patients`));
  assert.equal(await page.locator('#live-status').getAttribute('aria-live'), 'polite');
  await page.waitForTimeout(500); // the live connection is open

  // Another coordinator's browser puts a patient on the list through the API.
  const other = await signedIn(cfg.coordinatorSession);
  await other.page.goto(`${cfg.discharges}/discharges`);
  // Ready yesterday: a date in the past on the discharges service's clock
  // (it stands at the platform's start) even if UK midnight has passed since.
  const readyDate = new Date(Date.now() - 24 * 3600_000).toISOString().slice(0, 10);
  const created = await other.page.evaluate(async ({ nhs, readyDate }) => {
    const response = await fetch('/api/v1/discharges', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ nhs_number: nhs, sex: 'male', site: 'RWEAA', ward: 'WD15', discharge_ready_date: readyDate, pathway: 1, delay_reason: 'awaiting_package_of_care' }),
    });
    return { status: response.status, body: await response.json() };
  }, { nhs: cfg.liveNhsNumber, readyDate });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const liveId = created.body.discharge_id;
  const newRow = page.locator(`tr[data-discharge="${liveId}"]`);
  await newRow.waitFor({ timeout: WAIT_MS });
  assert.deepEqual(await ids(), [...before, liveId], 'added at the end: no row moved');
  assert.match(await newRow.textContent(), /New/);
  assert.match(await page.locator('#live-status').textContent(), /1 new patient added at the end of the list/);
  assert.match(await page.locator('#list-count').textContent(), new RegExp(`^${before.length + 1} patients`));
  await assertAccessible(page, 'list with a new patient');

  // The patient leaves the list (cancelled through the API): marked, then taken away.
  const cancelled = await other.page.evaluate(async (id) => {
    const response = await fetch(`/api/v1/discharges/${id}/cancel`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'went home' }),
    });
    return response.status;
  }, liveId);
  assert.equal(cancelled, 200);
  await page.locator(`tr[data-discharge="${liveId}"].pf-row--left`).waitFor({ timeout: WAIT_MS });
  assert.match(await newRow.textContent(), /Left the list/);
  assert.match(await page.locator('#live-status').textContent(), /1 patient left the list/);
  assert.match(await page.locator('#list-count').textContent(), new RegExp(`^${before.length} patients`));
  await assertAccessible(page, 'list with a leaver marked');
  await page.mouse.move(0, 0);
  await newRow.waitFor({ state: 'detached', timeout: WAIT_MS });
  assert.deepEqual(await ids(), before);
  assert.equal(await page.evaluate(() => window.pfNotReloaded), true, 'the page was not reloaded');
  assert.deepEqual(coordinator.errors, [], `page errors: ${coordinator.errors.join('; ')}`);
  await other.context.close();
});

test('1e: a patient who no longer waits is taken off the list from their page', async () => {
  const { page } = coordinator;
  await page.goto(`${cfg.discharges}/discharges/${addedId}`);
  await page.getByText('The patient no longer waits for discharge').click();
  await page.getByLabel('Why (optional)').fill('Meets the criteria to reside again');
  await assertAccessible(page, 'taking a patient off the list');
  await page.getByRole('button', { name: 'Take the patient off the list' }).click();
  await page.locator('#done').waitFor();
  assert.match(await page.locator('#done').textContent(), /Taken off the list/);
  assert.equal(await page.locator('#patient-status').textContent(), 'No longer waiting');
  await assertAccessible(page, 'patient taken off the list');
  await page.goto(`${cfg.discharges}/discharges`);
  assert.equal(await page.locator(`tr[data-discharge="${addedId}"]`).count(), 0, 'no longer on the list');
});

test('2: the coordinator opens the patient, sees the matching home and holds a bed', async () => {
  const { page } = coordinator;
  await page.goto(`${cfg.discharges}/discharges`);
  await page.locator(`tr[data-discharge="${cfg.id}"] a`).click();
  await page.waitForURL(patientUrl());
  assert.equal(await page.locator('#nhs-number').textContent(), cfg.nhsNumber, 'opened: NHS number shown');
  const home = page.locator(`#matches-body tr[data-home="${cfg.home}"]`);
  await home.waitFor();
  assert.match(await home.textContent(), /Alder House \(demo\)/);
  assert.match(await home.textContent(), /2/);
  assert.doesNotMatch(await page.locator('#matches').textContent(), /Female only|Male only|Male or female/, 'sex in NHS content wording');
  assert.match(await home.textContent(), /Men and women|Women only|Men only/);
  const phone = home.locator('.pf-home-phone a');
  assert.equal(await phone.textContent(), '0116 496 0001', "the home's phone number, spaced for reading");
  assert.equal(await phone.getAttribute('href'), 'tel:+441164960001', 'a tel: link to the home');
  const shownHomes = await page.locator('#matches-body tr').count();
  assert.ok(shownHomes <= 10, `${shownHomes} homes shown at first: the top 10 at most`);
  if (await page.locator('#matches-more').count()) {
    await page.locator('#matches-more').click();
    await page.waitForURL(/homes=all/);
    assert.ok(await page.locator('#matches-body tr').count() > 10, 'show more shows them all');
    await page.goto(patientUrl());
  }
  await assertAccessible(page, 'patient with matches');

  // The control room's figures, watched from a third browser.
  const viewer = await signedIn(cfg.viewerSession);
  await viewer.page.goto(`${cfg.gateway}/control-room`);
  await viewer.page.evaluate((url) => new Promise((resolve) => {
    window.pfVacant = [];
    const socket = new WebSocket(url);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.care_homes) window.pfVacant.push(message.care_homes.system.vacant);
      if (message.type === 'snapshot') resolve();
    };
  }), `${cfg.gateway.replace(/^http/, 'ws')}/ws/control-room`);
  watcher = viewer;

  await home.getByRole('button', { name: /Hold a bed/ }).click();
  await page.locator('#done').waitFor();
  assert.match(await page.locator('#done').textContent(), /A bed is held at Alder House \(demo\)/);
  assert.equal(await page.locator('#hold-state').textContent(), "Waiting for the home's answer");
  assert.match(await page.locator('#hold-expires').textContent(), /^\d{2}:\d{2} on \d{1,2} \w+$/);
  assert.ok(await page.locator('#confirm-form').isHidden(), 'nothing to confirm before the home accepts');
  assert.match(await page.locator('#hold-left').textContent(), /^(\d+ hours?( \d+ minutes?)?|\d+ minutes?|less than a minute) left$/, 'time left on the hold');
  assert.equal(await page.locator('#matches-details').getAttribute('open'), null, 'the matching homes fold away once a bed is held');
  assert.doesNotMatch(await page.locator('#matches').textContent(), /Release the held bed to hold another/);
  await assertAccessible(page, 'hold requested');

  // Releasing asks first; "No" keeps the bed.
  await page.getByRole('button', { name: 'Release the bed' }).click();
  await page.locator('#release-confirm').waitFor();
  assert.match(await page.locator('#release-confirm').textContent(), /Release the bed at Alder House \(demo\)\?/);
  await assertAccessible(page, 'release asked');
  await page.getByRole('link', { name: 'No, keep the bed' }).click();
  await page.locator('#release-confirm').waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#hold-state').textContent(), "Waiting for the home's answer", 'nothing was released');
});

test('3: the home accepts in another browser; the coordinator sees it without a reload', async () => {
  const { page } = coordinator;
  // Wait for the live connection, then mark the page: a reload would lose the mark.
  await page.waitForFunction(() => document.body.classList.contains('js-enabled'));
  await page.evaluate(() => { window.pfNotReloaded = true; });
  await page.waitForTimeout(300);

  const home = await signedIn(cfg.homeSession, PHONE);
  await home.page.goto(`${cfg.careHomes}/care-homes/${cfg.home}`);
  const request = home.page.locator('#hold-requests .pf-hold-request');
  await request.waitFor();
  const text = await request.textContent();
  assert.match(text, /Residential bed, pathway 3/);
  assert.match(text, /Walks with a frame/);
  assert.match(text, /Sam Coordinator, RWE/);
  assert.doesNotMatch(text, new RegExp(cfg.nhsNumber.slice(-4)), 'the home is not told the NHS number');
  await request.getByRole('button', { name: /^Accept/ }).click();
  await home.page.locator('#answered').waitFor();
  assert.match(await home.page.locator('#expected-patients').textContent(), /Residential bed, pathway 3/);
  await home.context.close();

  await page.locator('#hold-state', { hasText: 'Accepted by the home' }).waitFor({ timeout: WAIT_MS });
  assert.equal(await page.evaluate(() => window.pfNotReloaded), true, 'the page was not reloaded');
  assert.equal(await page.locator('#live-status').textContent(), 'Accepted by Alder House (demo)');
  await page.getByRole('button', { name: 'Confirm discharge to Alder House (demo)' }).waitFor();
  assert.deepEqual(coordinator.errors, [], `page errors: ${coordinator.errors.join('; ')}`);
  await assertAccessible(page, 'hold accepted');
});

test('4: a refused change shows the error summary and changes nothing', async () => {
  const { page } = coordinator;
  // Another home, as a stale form would post it: a bed is already held for this patient.
  await page.evaluate((home) => {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = `${location.pathname}/hold`;
    for (const [name, value] of [['csrf', document.querySelector('input[name="csrf"]').value], ['cqc_location_id', home]]) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = value;
      form.append(input);
    }
    document.body.append(form);
    form.submit();
  }, '1-000000003');
  await page.locator('.nhsuk-error-summary').waitFor();
  assert.match(await page.locator('.nhsuk-error-summary').textContent(), /already held for this patient at Alder House/);
  assert.equal(await page.locator('#hold-state').textContent(), 'Accepted by the home');
  await assertAccessible(page, 'error shown');
});

test('4b: the list shows the held bed', async () => {
  const { page } = coordinator;
  await page.goto(`${cfg.discharges}/discharges`);
  const row = page.locator(`tr[data-discharge="${cfg.id}"]`);
  assert.match(await row.locator('[data-field="held"]').textContent(), /Alder House \(demo\): accepted by the home/);
  await assertAccessible(page, 'list with a held bed');
});

test('5: the discharge is confirmed and the home\'s vacancy drops on the control room', async () => {
  const { page } = coordinator;
  await page.goto(patientUrl());
  const vacantBefore = await watcher.page.evaluate(() => window.pfVacant.at(-1));
  await page.getByRole('button', { name: 'Confirm discharge to Alder House (demo)' }).click();
  await page.locator('#done').waitFor();
  assert.match(await page.locator('#done').textContent(), /discharge to Alder House \(demo\) is confirmed/);
  assert.equal(await page.locator('#patient-status').textContent(), 'Discharged');
  await watcher.page.waitForFunction((before) => window.pfVacant.at(-1) === before - 1, vacantBefore, { timeout: WAIT_MS });
  await page.goto(`${cfg.discharges}/discharges`);
  assert.equal(await page.locator(`tr[data-discharge="${cfg.id}"]`).count(), 0, 'no longer on the list');
  assert.deepEqual(coordinator.errors, [], `page errors: ${coordinator.errors.join('; ')}`);
  await watcher.context.close();
  await coordinator.context.close();
});
