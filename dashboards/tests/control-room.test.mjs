// Browser tests of the control-room page against a running gateway and hospital-beds service.
//
//   PF_GATEWAY_URL=http://127.0.0.1:PORT \
//   PF_HOSPITAL_BEDS_URL=http://127.0.0.1:PORT \
//   PF_TEST_BED=SITE/WARD/BED \            (an open bed whose state is "available")
//   [PF_CHROMIUM=/usr/bin/chromium] \
//   node --test tests/
//
// A: a bed made occupied through the hospital-beds API shows up on the open page without reload.
// B: axe-core finds no WCAG 2.2 AA violation at 1920×1080 (the wall) and 360×740 (a phone).
// C: with JavaScript off the page still shows every figure.
//
// Nothing is skipped: missing settings fail the run with a message saying what to set.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const UPDATE_TIMEOUT_MS = 10_000;
const LIVE_TIMEOUT_MS = 15_000;
const CHROMIUM = process.env.PF_CHROMIUM || '/usr/bin/chromium';

/** Reads the settings the tests need, failing with one clear message listing what is missing. */
function settings() {
  const missing = [];
  const gateway = process.env.PF_GATEWAY_URL;
  const beds = process.env.PF_HOSPITAL_BEDS_URL;
  const bed = process.env.PF_TEST_BED;
  if (!gateway) missing.push('PF_GATEWAY_URL (e.g. http://127.0.0.1:8080, the gateway serving /control-room)');
  if (!beds) missing.push('PF_HOSPITAL_BEDS_URL (e.g. http://127.0.0.1:8081, the hospital-beds API)');
  if (!bed) missing.push('PF_TEST_BED ("SITE/WARD/BED" of an open bed that is available)');
  if (missing.length) {
    throw new Error(`control-room browser tests need these environment variables:\n  - ${missing.join('\n  - ')}`);
  }
  const parts = bed.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    throw new Error(`PF_TEST_BED must look like SITE/WARD/BED, got ${JSON.stringify(bed)}`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PF_CHROMIUM`);
  }
  const trim = (u) => u.replace(/\/+$/, '');
  return {
    gateway: trim(gateway), beds: trim(beds), site: parts[0], ward: parts[1], bed: parts[2],
    // A signed-in control-room viewer's session (cookie value) and a bed publisher's token.
    session: process.env.PF_SESSION_COOKIE || '',
    bedsToken: process.env.PF_BEDS_TOKEN || '',
  };
}

let cfg;
let browser;

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

/** Opens the control room in a fresh context; collects page errors so tests can assert on them. */
async function openPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, ...options });
  if (cfg.session) {
    await context.addCookies([{ name: 'pf_session', value: cfg.session, url: cfg.gateway, httpOnly: true, sameSite: 'Lax' }]);
  }
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    // Inline scripts or styles (or anything else) refused by the Content-Security-Policy.
    if (/Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  const response = await page.goto(`${cfg.gateway}/control-room`, { waitUntil: 'load' });
  assert.equal(response?.status(), 200, `GET ${cfg.gateway}/control-room answered ${response?.status()}`);
  return { context, page, errors };
}

function occupiedSelector(site) {
  return `[data-site="${site}"][data-field="occupied"]`;
}

async function readInt(page, selector) {
  const text = (await page.locator(selector).first().textContent())?.trim() ?? '';
  const n = Number.parseInt(text, 10);
  assert.ok(Number.isInteger(n), `expected a whole number in ${selector}, found ${JSON.stringify(text)}`);
  return n;
}

test('A: a bed change reaches the open page live, without reload', async () => {
  const { context, page, errors } = await openPage();
  try {
    await page.waitForFunction(
      () => document.getElementById('live-status')?.textContent.trim() === 'Live',
      null, { timeout: LIVE_TIMEOUT_MS },
    ).catch(async () => {
      const status = await page.locator('#live-status').textContent();
      throw new Error(`status never read "Live" within ${LIVE_TIMEOUT_MS} ms; it reads ${JSON.stringify(status)}`);
    });
    assert.equal(await page.locator(occupiedSelector(cfg.site)).count(), 1,
      `the page has no single occupied figure for site ${cfg.site} (${occupiedSelector(cfg.site)})`);
    const before = await readInt(page, occupiedSelector(cfg.site));
    // A navigation would reset this marker: it proves the update came without a reload.
    await page.evaluate(() => { window.__pfNoReload = true; });

    const url = `${cfg.beds}/api/v1/beds/${cfg.site}/${cfg.ward}/${cfg.bed}/state`;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(cfg.bedsToken ? { authorization: `Bearer ${cfg.bedsToken}` } : {}),
      },
      body: JSON.stringify({ state: 'occupied', reason: 'browser test' }),
    });
    const body = await res.text();
    assert.equal(res.status, 200, `POST ${url} answered ${res.status}: ${body}`);

    await page.waitForFunction(
      ({ selector, want }) => Number.parseInt(document.querySelector(selector)?.textContent ?? '', 10) === want,
      { selector: occupiedSelector(cfg.site), want: before + 1 },
      { timeout: UPDATE_TIMEOUT_MS },
    ).catch(async () => {
      const now = await page.locator(occupiedSelector(cfg.site)).textContent();
      throw new Error(`site ${cfg.site} occupied stayed ${JSON.stringify(now)} (wanted ${before + 1}) for ${UPDATE_TIMEOUT_MS} ms`);
    });
    assert.equal(await page.evaluate(() => window.__pfNoReload), true, 'the page reloaded');
    await readInt(page, occupiedSelector('system'));
    const version = await page.evaluate(() => Number(document.body.dataset.version));
    assert.ok(Number.isInteger(version) && version > 0, `body[data-version] is ${version}`);
    assert.deepEqual(errors, [], `page errors: ${errors.join('; ')}`);
  } finally {
    await context.close();
  }
});

/** Formats axe violations so a failure says what, where and how to fix it. */
function describeViolations(violations) {
  return violations.map((v) => {
    const nodes = v.nodes.slice(0, 5).map((n) => `      at ${n.target.join(' ')}\n        ${n.failureSummary?.replace(/\n/g, '\n        ')}`);
    const more = v.nodes.length > 5 ? `\n      … and ${v.nodes.length - 5} more` : '';
    return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes.join('\n')}${more}`;
  }).join('\n');
}

for (const viewport of [{ width: 1920, height: 1080 }, { width: 360, height: 740 }]) {
  test(`B: no WCAG 2.2 AA violations (axe-core) at ${viewport.width}×${viewport.height}`, async () => {
    // addScriptTag injects axe inline, which the page's CSP rightly forbids: bypass it here only.
    const { context, page } = await openPage({ viewport, bypassCSP: true });
    try {
      // Let the live script settle so the checked page is the one people see.
      await page.waitForFunction(() => /^(Live|Reconnecting|Connecting)/.test(
        document.getElementById('live-status')?.textContent.trim() ?? ''), null, { timeout: LIVE_TIMEOUT_MS });
      await page.addScriptTag({ path: AXE_PATH });
      const result = await page.evaluate(async (tags) => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
          nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
      }, AXE_TAGS);
      assert.equal(result.length, 0, `axe found ${result.length} violation(s) at ${viewport.width}×${viewport.height}:\n${describeViolations(result)}`);
    } finally {
      await context.close();
    }
  });
}

test('C: with JavaScript off the page still shows the figures', async () => {
  const { context, page, errors } = await openPage({ javaScriptEnabled: false });
  try {
    const status = (await page.locator('#live-status').textContent())?.trim() ?? '';
    assert.match(status, /^Data as of \d{2}:\d{2} — reload for newer figures$/, `status reads ${JSON.stringify(status)}`);
    for (const field of ['occupied', 'available', 'awaiting_clean', 'reserved', 'closed', 'total', 'escalation_open']) {
      for (const site of ['system', cfg.site]) {
        const selector = `[data-site="${site}"][data-field="${field}"]`;
        const text = (await page.locator(selector).first().textContent())?.trim() ?? '';
        assert.match(text, /^\d+$/, `${selector} shows ${JSON.stringify(text)} with JavaScript off`);
      }
    }
    for (const site of ['system', cfg.site]) {
      const selector = `[data-site="${site}"][data-field="occupancy_pct"]`;
      const text = (await page.locator(selector).first().textContent())?.trim() ?? '';
      assert.match(text, /^(\d+\.\d%|–)$/, `${selector} shows ${JSON.stringify(text)} with JavaScript off`);
    }
    assert.deepEqual(errors, [], `page errors: ${errors.join('; ')}`);
    const cards = await page.locator('[data-site-card]:visible').count();
    assert.ok(cards >= 1, 'no site card is visible with JavaScript off');
    const version = await page.locator('body').getAttribute('data-version');
    assert.match(version ?? '', /^\d+$/, `body[data-version] is ${JSON.stringify(version)}`);
  } finally {
    await context.close();
  }
});
