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
//   PF_TASKS_URL=http://127.0.0.1:PORT        the tasks service (its forms)
//   PF_LEAD_SESSION=…                         a control-room lead's session
//   PF_OWNER_SESSION=…                        pharm-1's session (an owner of tasks, of the same trust)
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
    'PF_DISCHARGE_ID', 'PF_ACTION_TEXT', 'PF_DONE_ACTION_TEXT', 'PF_TASKS_URL', 'PF_LEAD_SESSION',
    'PF_OWNER_SESSION'];
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
    tasks: trim(process.env.PF_TASKS_URL),
    leadSession: process.env.PF_LEAD_SESSION,
    ownerSession: process.env.PF_OWNER_SESSION,
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
  const hosts = new Set([cfg.discharges, cfg.gateway, cfg.tasks].map((u) => new URL(u).hostname));
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

// The forms (pf-tasks): created, given to another owner, completed and seen overdue through the
// pages, with no JavaScript needed. These run after the tests above, which count the seeded items.

/** The UK date and time `minutes` from now, as the form's fields. */
function due(minutes) {
  const at = new Date(Date.now() + minutes * 60_000);
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/London', year: 'numeric', month: 'numeric', day: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(at).map((p) => [p.type, p.value]));
  return { day: parts.day, month: parts.month, year: parts.year, time: `${parts.hour}:${parts.minute}` };
}

async function fillDue(form, when) {
  await form.getByLabel('Day').fill(String(when.day));
  await form.getByLabel('Month').fill(String(when.month));
  await form.getByLabel('Year').fill(String(when.year));
  await form.getByLabel('Time').fill(when.time);
}

test("a coordinator adds a patient's task through the form and gives it to a colleague", async () => {
  const { context, page, errors } = await signedIn(cfg.coordinatorSession, cfg.tasks);
  // The patient's page leads to their tasks' forms.
  await page.goto(`${cfg.discharges}/discharges/${cfg.id}`);
  await page.locator('#tasks').getByRole('link', { name: /Add a task or change one/ }).click();
  await page.getByRole('heading', { level: 1, name: 'Who needs to do what next for this patient' }).waitFor();
  const form = page.locator('#new-item');
  await assertAccessible(page, 'tasks page with the new-task form');
  // A missing date is a sentence in the NHS error summary, linked to the field.
  await form.getByLabel('What needs doing').selectOption({ label: 'Package of care' });
  await form.getByLabel('Team').fill('Discharge Hub');
  await form.getByRole('button', { name: 'Add the task' }).click();
  const summary = page.locator('.nhsuk-error-summary');
  await summary.waitFor();
  assert.match(await summary.innerText(), /Enter the date it is due by/);
  assert.equal(await summary.getByRole('link').getAttribute('href'), '#due-day');
  assert.match(await page.title(), /^Error: /);
  await assertAccessible(page, 'new-task form with an error');
  await fillDue(form, due(-15));
  await form.getByRole('button', { name: 'Add the task' }).click();
  await page.locator('#confirmation', { hasText: 'The task has been added.' }).waitFor();
  const row = page.locator('#items tbody tr', { hasText: 'Package of care' });
  assert.match(await row.innerText(), /Discharge Hub \(RWE\)/);
  assert.match(await row.innerText(), /Overdue/);
  // Given to the pharmacist by their sign-in id.
  await row.getByRole('link').click();
  await page.getByRole('heading', { level: 1, name: 'Package of care' }).waitFor();
  await assertAccessible(page, 'one task with its forms');
  const assign = page.locator('form[action$="/assign"]');
  await assign.getByLabel('Team').fill('');
  await assign.getByLabel("Or a person's sign-in id").fill('pharm-1');
  await assign.getByRole('button', { name: 'Give it to them' }).click();
  await page.locator('#confirmation', { hasText: 'The new owner has it now.' }).waitFor();
  assert.match(await page.locator('[data-field="owner"]').innerText(), /pharm-1/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('the owner marks their own task done from their list', async () => {
  const { context, page, errors } = await signedIn(cfg.ownerSession, cfg.tasks);
  await page.goto(`${cfg.tasks}/tasks`);
  await page.getByRole('heading', { level: 1, name: 'Your tasks and actions' }).waitFor();
  const row = page.locator('#items tbody tr', { hasText: 'Package of care' });
  assert.match(await row.innerText(), /Overdue/);
  await assertAccessible(page, "the owner's list");
  await row.getByRole('link').click();
  const done = page.locator('form[action$="/done"]');
  await done.getByLabel('What was done (optional)').fill('Package agreed with the provider');
  await done.getByRole('button', { name: 'Mark as done' }).click();
  await page.locator('#confirmation', { hasText: 'It has been marked as done.' }).waitFor();
  assert.match(await page.locator('[data-field="state"]').innerText(), /Done by pharm-1/);
  assert.equal(await page.locator('form[action$="/cancel"]').count(), 0, 'an owner does not cancel');
  await assertAccessible(page, 'a done task');
  assert.deepEqual(errors, []);
  await context.close();
});

test("the control-room lead records an action, overdue, that the wall shows", async () => {
  const text = 'Ring the community hospitals about step-down beds';
  const { context, page, errors } = await signedIn(cfg.leadSession, cfg.tasks);
  await page.goto(`${cfg.tasks}/tasks`);
  const form = page.locator('#new-item');
  await form.getByLabel('What was agreed').fill(text);
  await form.getByLabel('Organisation (ODS code)').fill('RWE');
  await form.getByLabel('Team').fill('Discharge Hub');
  await fillDue(form, due(-5));
  await form.getByRole('button', { name: 'Record the action' }).click();
  await page.locator('#confirmation', { hasText: 'The action has been recorded.' }).waitFor();
  const row = page.locator('#actions tbody tr', { hasText: text });
  assert.match(await row.innerText(), /Overdue/);
  await assertAccessible(page, "the lead's actions");
  assert.deepEqual(errors, []);
  await context.close();

  const wall = await signedIn(cfg.viewerSession, cfg.gateway);
  await wall.page.goto(`${cfg.gateway}/control-room`);
  const panel = wall.page.locator('[data-actions-panel]');
  const item = panel.locator('li.pf-action', { hasText: text });
  await item.waitFor({ timeout: 30_000 });
  assert.match(await item.innerText(), /Overdue/);
  assert.deepEqual(wall.errors, []);
  await wall.context.close();
});
