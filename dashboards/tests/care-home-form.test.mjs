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
//   [PF_CHROMIUM=/usr/bin/chromium]
//   node --test tests/care-home-form.test.mjs
//
// 1. Sign in with a link; the empty form.  2. Save two categories; a websocket client sees them.
// 3. A mistake comes back with the error summary and what was typed.  4. Offline: kept on the device,
// said plainly, sent by itself once back online, applied exactly once.  5. A double submit is applied
// once.  6. The same with JavaScript off.  axe-core (WCAG 2.2 AA) checks every state at 360 px and
// 1280 px wide. Nothing is skipped: missing settings fail the run with a message saying what to set.

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

function settings() {
  const names = ['PF_CARE_HOMES_URL', 'PF_GATEWAY_URL', 'PF_SESSION_COOKIE', 'PF_SIGN_IN_LINK_JS',
    'PF_SIGN_IN_LINK_NOJS', 'PF_SIGN_IN_LINK_SIGN_OUT', 'PF_IDENTITY_URL', 'PF_TEST_HOME', 'PF_CARE_HOMES_TOKEN'];
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

/** The home's version and figures, read through the API (the platform's own record). */
async function homeRecord() {
  const res = await fetch(`${cfg.careHomes}/api/v1/care-homes/${cfg.home}`, {
    headers: { authorization: `Bearer ${cfg.token}` },
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

/** Runs axe-core on the page as it is, at a phone and a desktop width. */
async function assertAccessible(page, state) {
  for (const viewport of [{ width: 360, height: 740 }, { width: 1280, height: 800 }]) {
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
}

async function fill(page, residential, dementia) {
  await page.fill('#vacancies-residential-vacant', String(residential));
  await page.fill('#vacancies-residential-unavailable', '0');
  await page.fill('#vacancies-residential_dementia-vacant', String(dementia));
  await page.fill('#vacancies-residential_dementia-unavailable', '0');
}

test('1: a nurse signs in with a link and sees the empty form', async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const { page, errors } = await signInWithLink(context, cfg.linkJs, true);
  nurse = { context, page, errors };
  await assert.doesNotReject(page.getByRole('heading', { name: /No figures yet/ }).waitFor());
  assert.equal(await page.locator('#vacancies-residential-vacant').inputValue(), '0');
  assert.equal(await page.locator('body.js-enabled').count(), 1, 'the page scripts run');
  await assertAccessible(page, 'empty form');

  // A control-room viewer's websocket records every care-home figure it is sent.
  const viewer = await browser.newContext();
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

test('2: saving two categories takes one tap, and a websocket client sees the figures', async () => {
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
  assert.equal(await page.locator('#vacancies-residential-vacant').inputValue(), '2', 'the form shows what was saved');
  assert.match(await page.locator('#last-update').textContent(), /Last updated at \d{2}:\d{2}/);
  await assertAccessible(page, 'saved form');
});

test('3: a mistake comes back with the error summary, keeping what was typed', async () => {
  const { page } = nurse;
  const before = await homeRecord();
  await fill(page, -1, 1);
  await page.fill('#note', 'Room 4 free from Monday');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('.nhsuk-error-summary').waitFor();
  assert.match(await page.locator('.nhsuk-error-summary').textContent(), /Vacant Residential beds must be 0 or more/);
  assert.equal(await page.locator('#vacancies-residential-vacant').inputValue(), '-1');
  assert.equal(await page.locator('#note').inputValue(), 'Room 4 free from Monday');
  await assertAccessible(page, 'errors shown form');
  assert.equal((await homeRecord()).version, before.version, 'nothing was saved');
  await page.goto(formUrl());
});

test('4: offline, the update is kept on the device and sent once when back online', async () => {
  const { context, page } = nurse;
  const before = await homeRecord();
  await context.setOffline(true);
  await fill(page, 1, 1);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#outbox:not([hidden])').waitFor();
  assert.match(await page.locator('#outbox').textContent(),
    /Saved on this device at \d{2}:\d{2} — will send when you are back online/);
  assert.equal(await page.locator('#saved').count(), 0, 'never "saved" before the platform accepted it');
  await assertAccessible(page, 'offline-queued form');

  // A newer change replaces the unsent one.
  await fill(page, 4, 1);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => JSON.parse(localStorage.getItem(`pf-care-home-outbox:${document.body.dataset.home}`) ?? 'null')
    ?.fields.some(([n, v]) => n === 'vacancies.residential.vacant' && v === '4'));
  assert.equal((await homeRecord()).version, before.version, 'nothing reached the platform while offline');

  await context.setOffline(false);
  await page.locator('#saved').waitFor({ timeout: WAIT_MS });
  const after = await homeRecord();
  assert.equal(after.version, before.version + 1, 'sent exactly once');
  assert.equal(after.vacancies.find((v) => v.category === 'residential').vacant, 4, 'the newer change won');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing left waiting on the device');
});

test('5: a double submit is applied once', async () => {
  const { page } = nurse;
  const before = await homeRecord();
  await fill(page, 3, 0);
  await page.evaluate(() => {
    const form = document.getElementById('vacancy-form');
    const save = form.querySelector('button[value="save"]');
    form.requestSubmit(save);
    form.requestSubmit(save);
  });
  await page.locator('#saved').waitFor({ timeout: WAIT_MS });
  await page.waitForTimeout(500);
  assert.equal((await homeRecord()).version, before.version + 1);
  assert.deepEqual(nurse.errors, [], `page errors: ${nurse.errors.join('; ')}`);
  await nurse.context.close();
  await watcher.context.close();
});

test('6: with JavaScript off the form signs in, saves and confirms', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 740 } });
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
    // "Nothing has changed": one tap.
    await page.goto(formUrl());
    await page.getByRole('button', { name: 'Nothing has changed' }).click();
    await page.locator('#saved').waitFor();
    assert.equal((await homeRecord()).version, before.version + 2);
  } finally {
    await context.close();
  }
});

test('7: the sign-out page is accessible, and signing out ends the session', async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
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
