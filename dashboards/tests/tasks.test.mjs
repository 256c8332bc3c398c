// Browser tests of who needs to do what next, against a running platform: the discharge pages'
// tasks (a patient's page, overdue tasks on the list, the cohorts page with one click to a patient
// and the task that blocks them) and the wall's actions panel:
//
//   PF_DISCHARGES_URL=http://127.0.0.1:PORT   the discharges service (its pages)
//   PF_GATEWAY_URL=http://127.0.0.1:PORT      the gateway (the control-room wall)
//   PF_COORDINATOR_SESSION=…                  a discharge coordinator's session (of the patient's trust)
//   PF_VIEWER_SESSION=…                       a control-room viewer's session
//   PF_DISCHARGE_ID=…                         a waiting patient with an overdue blocking transport task
//                                             owned by "Discharge Hub (RWE)" and a done medicines task
//   PF_ACTION_TEXT=…, PF_DONE_ACTION_TEXT=…   an overdue open action and a done one, on the wall
//   [PF_CHROMIUM=/usr/bin/chromium]
//   node --test tests/tasks.test.mjs
//
// axe-core (WCAG 2.2 AA) checks every page at 1366×768 and 360 px wide; no page is wider than the
// screen; no request leaves the site.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const CHROMIUM = process.env.PF_CHROMIUM || '/usr/bin/chromium';
const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 360, height: 740 };

function settings() {
  const names = ['PF_DISCHARGES_URL', 'PF_GATEWAY_URL', 'PF_COORDINATOR_SESSION', 'PF_VIEWER_SESSION',
    'PF_DISCHARGE_ID', 'PF_ACTION_TEXT', 'PF_DONE_ACTION_TEXT'];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`tasks browser tests need these environment variables: ${missing.join(', ')}`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PF_CHROMIUM`);
  }
  const trim = (u) => u.replace(/\/+$/, '');
  return {
    discharges: trim(process.env.PF_DISCHARGES_URL),
    gateway: trim(process.env.PF_GATEWAY_URL),
    coordinatorSession: process.env.PF_COORDINATOR_SESSION,
    viewerSession: process.env.PF_VIEWER_SESSION,
    id: process.env.PF_DISCHARGE_ID,
    action: process.env.PF_ACTION_TEXT,
    doneAction: process.env.PF_DONE_ACTION_TEXT,
  };
}

let cfg;
let browser;
const offSite = [];

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

async function signedIn(session, url) {
  const context = await browser.newContext({ viewport: LAPTOP });
  await context.addCookies([{ name: 'pf_session', value: session, url, httpOnly: true, sameSite: 'Lax' }]);
  const hosts = new Set([cfg.discharges, cfg.gateway].map((u) => new URL(u).hostname));
  context.on('request', (request) => {
    const u = new URL(request.url());
    if (u.protocol === 'data:' || u.protocol === 'blob:') return;
    if (!hosts.has(u.hostname)) offSite.push(request.url());
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  return { context, page, errors };
}

async function assertAccessible(page, state) {
  for (const viewport of [LAPTOP, PHONE]) {
    await page.setViewportSize(viewport);
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
  assert.deepEqual(offSite, [], `requests that left the site:\n${offSite.join('\n')}`);
}

test("a patient's page says who needs to do what next, overdue first", async () => {
  const { context, page, errors } = await signedIn(cfg.coordinatorSession, cfg.discharges);
  await page.goto(`${cfg.discharges}/discharges/${cfg.id}`);
  const section = page.locator('#tasks');
  await section.getByRole('heading', { name: 'Who needs to do what next' }).waitFor();
  const rows = section.locator('tbody tr');
  assert.equal(await rows.count(), 2);
  const first = rows.nth(0);
  assert.match(await first.innerText(), /Transport/);
  assert.match(await first.innerText(), /Discharge Hub \(RWE\)/);
  assert.match(await first.innerText(), /Overdue/);
  assert.match(await first.innerText(), /Blocks discharge/);
  assert.match(await rows.nth(1).innerText(), /Done by pharm-1/);
  await assertAccessible(page, "patient's page with tasks");
  assert.deepEqual(errors, []);
  await context.close();
});

test('the list shows overdue tasks and the cohorts lead to the patient and the blocking task', async () => {
  const { context, page, errors } = await signedIn(cfg.coordinatorSession, cfg.discharges);
  await page.goto(`${cfg.discharges}/discharges`);
  const row = page.locator('#patients-body tr', { has: page.locator(`a[href="/discharges/${cfg.id}"]`) });
  assert.match(await row.locator('[data-field="overdue_tasks"]').innerText(), /1 overdue task/);
  await assertAccessible(page, 'list with overdue tasks');
  await page.getByRole('link', { name: 'Cohorts' }).click();
  await page.getByRole('heading', { level: 1, name: 'Cohorts of waiting patients' }).waitFor();
  const cohort = page.locator('section.pf-cohort', { has: page.locator(`[data-cohort-patient="${cfg.id}"]`) });
  assert.match(await cohort.innerText(), /Pathway 3/);
  assert.match(await cohort.innerText(), /Owner: Discharge Hub \(RWE\)/);
  const patient = cohort.locator(`[data-cohort-patient="${cfg.id}"]`);
  assert.match(await patient.innerText(), /Transport, Discharge Hub \(RWE\)/);
  assert.match(await patient.innerText(), /Overdue/);
  await assertAccessible(page, 'cohorts page');
  await patient.getByRole('link').click();
  await page.locator('#tasks').waitFor();
  assert.ok(page.url().endsWith(`/discharges/${cfg.id}#tasks`), page.url());
  assert.deepEqual(errors, []);
  await context.close();
});

test("the wall shows the system call's actions, overdue ones marked in words", async () => {
  const { context, page, errors } = await signedIn(cfg.viewerSession, cfg.gateway);
  await page.goto(`${cfg.gateway}/control-room`);
  const panel = page.locator('[data-actions-panel]');
  await panel.getByRole('heading', { name: /System call actions/ }).waitFor();
  const open = panel.locator('li.pf-action', { hasText: cfg.action });
  assert.match(await open.innerText(), /Overdue/);
  assert.match(await panel.locator('[data-actions-overdue]').innerText(), /1 overdue/);
  const done = panel.locator('li.pf-action', { hasText: cfg.doneAction });
  assert.match(await done.innerText(), /Done by /);
  await assertAccessible(page, 'wall with actions');
  assert.deepEqual(errors, []);
  await context.close();
});
