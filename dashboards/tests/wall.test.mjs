// The control-room wall on a 20-site region, against a running platform
// (services/integration-tests/tests/wall_browser.rs starts it, scripts the events and computes the
// expected figures from the projection's state in Redis).
//
//   PF_GATEWAY_URL=http://127.0.0.1:PORT   the gateway serving /control-room
//   PF_SESSION_COOKIE=…                    a control-room viewer's pf_session
//   PF_WALL_WORK_DIR=/tmp/…                expected-a.json is there at the start; this script writes
//                                          ready-b when the page is open, then waits for
//                                          expected-b.json (the figures after a second sequence)
//   PF_WALL_SITES=CODE,CODE,…              every site of the region
//   [PF_CHROMIUM=/usr/bin/chromium] [PF_SCREENSHOT_DIR=/tmp/pf-shots]
//
// A: at 1920×1080 the served page shows every site's, trust's and the system's figures exactly as
//    expected-a.json; after the second sequence the same open page shows expected-b.json, without
//    reload; everything fits the screen (no scrolling either way).
// B: the same at 3840×2160 (a fresh page).
// C: on a phone (390×844) the same figures, and the page never scrolls sideways.
// D: axe-core finds no WCAG 2.2 A/AA violation at each of the three sizes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const CHROMIUM = process.env.PF_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.PF_SCREENSHOT_DIR || '';
const LIVE_TIMEOUT_MS = 15_000;
const UPDATE_TIMEOUT_MS = 20_000;
const SECOND_SEQUENCE_TIMEOUT_MS = 120_000;

/**
 * The figures each kind of scope must show on the page (a figure in the expected file that this
 * kind of scope does not show, such as a trust's awaiting-clean beds, is not looked for).
 */
const SHOWN = {
  site: ['total', 'available', 'occupied', 'awaiting_clean', 'reserved', 'closed', 'escalation_open',
    'occupancy_pct', 'ga_occupancy_pct', 'critical_care_occupancy_pct', 'nctr_patients', 'delay_days',
    'discharged_today', 'expected_today'],
  trust: ['ga_occupancy_pct', 'occupancy_pct', 'available', 'nctr_patients', 'discharged_today',
    'expected_today'],
  system: ['available', 'occupied', 'awaiting_clean', 'closed', 'escalation_open', 'occupancy_pct',
    'ga_occupancy_pct', 'critical_care_occupancy_pct', 'virtual_ward_occupied', 'virtual_ward_capacity',
    'virtual_ward_occupancy_pct', 'nctr_patients', 'delay_days', 'discharged_today', 'expected_today'],
};
const PATHWAY_FIELDS = { site: ['discharged_today', 'expected_today'], system: ['discharged_today', 'expected_today', 'nctr_patients'] };

function settings() {
  const need = ['PF_GATEWAY_URL', 'PF_SESSION_COOKIE', 'PF_WALL_WORK_DIR', 'PF_WALL_SITES'];
  const missing = need.filter((n) => !process.env[n]);
  if (missing.length) throw new Error(`the wall browser test needs ${missing.join(', ')}`);
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PF_CHROMIUM`);
  }
  return {
    gateway: process.env.PF_GATEWAY_URL.replace(/\/+$/, ''),
    session: process.env.PF_SESSION_COOKIE,
    work: process.env.PF_WALL_WORK_DIR,
    sites: process.env.PF_WALL_SITES.split(','),
  };
}

let cfg;
let browser;
let expectedB;

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

async function screenshot(page, name, fullPage = false) {
  if (!SCREENSHOT_DIR) return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage });
}

async function openWall(viewport, extra = {}) {
  const context = await browser.newContext({ viewport, ...extra });
  await context.addCookies([{ name: 'pf_session', value: cfg.session, url: cfg.gateway, httpOnly: true, sameSite: 'Lax' }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  const response = await page.goto(`${cfg.gateway}/control-room`, { waitUntil: 'load' });
  assert.equal(response?.status(), 200, `GET /control-room answered ${response?.status()}`);
  await page.waitForFunction(() => document.getElementById('live-status')?.textContent.trim() === 'Live',
    null, { timeout: LIVE_TIMEOUT_MS }).catch(async () => {
    throw new Error(`the page never went Live: ${await page.locator('#live-status').textContent()}`);
  });
  return { context, page, errors };
}

/** Every difference between the page and `expected`, as lines a person can act on. */
async function differences(page, expected) {
  return page.evaluate(({ expected, shown, pathwayFields }) => {
    const out = [];
    const text = (el) => el.textContent.replace(/\s+/g, ' ').trim();
    for (const [scope, fields] of Object.entries(expected)) {
      const kind = scope === 'system' ? 'system' : scope.startsWith('trust:') ? 'trust' : 'site';
      for (const field of shown[kind]) {
        const els = document.querySelectorAll(
          `[data-site="${CSS.escape(scope)}"][data-field="${field}"]:not([data-pathway]):not([data-kind])`);
        if (!els.length) out.push(`${scope} ${field}: not on the page`);
        for (const el of els) {
          if (text(el) !== fields[field]) out.push(`${scope} ${field}: page shows ${JSON.stringify(text(el))}, projection ${JSON.stringify(fields[field])}`);
        }
      }
      for (const field of pathwayFields[kind] || []) {
        for (const [pathway, values] of Object.entries(fields.pathways)) {
          const els = document.querySelectorAll(
            `[data-site="${CSS.escape(scope)}"][data-pathway="${pathway}"][data-field="${field}"]`);
          if (!els.length) out.push(`${scope} pathway ${pathway} ${field}: not on the page`);
          for (const el of els) {
            if (text(el) !== values[field]) out.push(`${scope} pathway ${pathway} ${field}: page shows ${JSON.stringify(text(el))}, projection ${JSON.stringify(values[field])}`);
          }
        }
      }
    }
    return out;
  }, { expected, shown: SHOWN, pathwayFields: PATHWAY_FIELDS });
}

async function assertEqualsProjection(page, expected, when) {
  const diff = await differences(page, expected);
  assert.deepEqual(diff, [], `${when}: the page differs from the projection:\n  ${diff.slice(0, 40).join('\n  ')}`);
}

async function assertEveryCard(page) {
  for (const code of cfg.sites) {
    assert.equal(await page.locator(`[data-site-card="${code}"]`).count(), 1, `no card for site ${code}`);
  }
}

/** The page's size against the window's: a wall must not scroll at all, a phone never sideways. */
async function overflow(page) {
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight,
    width: window.innerWidth,
    height: window.innerHeight,
  }));
}

function readJson(name) {
  return JSON.parse(readFileSync(join(cfg.work, name), 'utf8'));
}

async function waitForFile(name, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(join(cfg.work, name))) {
    if (Date.now() > deadline) throw new Error(`${name} never came (the second sequence did not run)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return readJson(name);
}

test('A: 1920×1080 — served figures equal the projection, a second sequence arrives live, one screen', async () => {
  const { context, page, errors } = await openWall({ width: 1920, height: 1080 });
  try {
    await assertEveryCard(page);
    await assertEqualsProjection(page, readJson('expected-a.json'), 'as served');
    await screenshot(page, 'wall-1920x1080-served');
    await page.evaluate(() => { window.__pfNoReload = true; });
    writeFileSync(join(cfg.work, 'ready-b'), '');
    expectedB = await waitForFile('expected-b.json', SECOND_SEQUENCE_TIMEOUT_MS);
    const deadline = Date.now() + UPDATE_TIMEOUT_MS;
    let diff = await differences(page, expectedB);
    while (diff.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      diff = await differences(page, expectedB);
    }
    assert.deepEqual(diff, [], `the second sequence did not reach the open page within ${UPDATE_TIMEOUT_MS} ms:\n  ${diff.slice(0, 40).join('\n  ')}`);
    assert.equal(await page.evaluate(() => window.__pfNoReload), true, 'the page reloaded');
    // The projection's occupancy history reaches the page's charts (sent as `trends` messages).
    await page.waitForFunction(() => {
      const line = document.querySelector('[data-trend="system"] [data-trend-line="today"]');
      const summary = document.querySelector('[data-trend="system"] [data-trend-field="summary"]');
      return line && /^M/.test(line.getAttribute('d') || '') && /now \d+/.test(summary?.textContent || '');
    }, null, { timeout: UPDATE_TIMEOUT_MS }).catch(async () => {
      const d = await page.locator('[data-trend="system"] [data-trend-line="today"]').getAttribute('d');
      throw new Error(`the system's occupancy chart never got its line (d=${JSON.stringify(d)})`);
    });
    // Its latest point is the occupancy the projection holds now.
    await page.waitForFunction((want) => {
      const summary = document.querySelector('[data-trend="system"] [data-trend-field="summary"]')?.textContent || '';
      const now = /now (\d+)/.exec(summary);
      return now && Number(now[1]) === want;
    }, Math.round(Number.parseFloat(expectedB.system.occupancy_pct)), { timeout: UPDATE_TIMEOUT_MS }).catch(async () => {
      const summary = await page.locator('[data-trend="system"] [data-trend-field="summary"]').textContent();
      throw new Error(`the system's chart says ${JSON.stringify(summary)}, the projection ${expectedB.system.occupancy_pct}`);
    });
    await new Promise((r) => setTimeout(r, 2500)); // let the "changed" highlights fade for the picture
    await screenshot(page, 'wall-1920x1080-live');
    const size = await overflow(page);
    assert.ok(size.scrollHeight <= size.height && size.scrollWidth <= size.width,
      `20 sites do not fit 1920×1080 without scrolling: the page is ${size.scrollWidth}×${size.scrollHeight}`);
    assert.deepEqual(errors, [], `page errors: ${errors.join('; ')}`);
  } finally {
    await context.close();
  }
});

test('B: 3840×2160 — the same figures, one screen', async () => {
  assert.ok(expectedB, 'test A did not get the second sequence');
  const { context, page, errors } = await openWall({ width: 3840, height: 2160 });
  try {
    await assertEveryCard(page);
    await assertEqualsProjection(page, expectedB, 'at 3840×2160');
    await screenshot(page, 'wall-3840x2160');
    const size = await overflow(page);
    assert.ok(size.scrollHeight <= size.height && size.scrollWidth <= size.width,
      `20 sites do not fit 3840×2160 without scrolling: the page is ${size.scrollWidth}×${size.scrollHeight}`);
    assert.deepEqual(errors, [], `page errors: ${errors.join('; ')}`);
  } finally {
    await context.close();
  }
});

test('C: a phone (390×844) — the same figures, never sideways scrolling', async () => {
  assert.ok(expectedB, 'test A did not get the second sequence');
  const { context, page, errors } = await openWall({ width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  try {
    await assertEveryCard(page);
    await assertEqualsProjection(page, expectedB, 'on a phone');
    await screenshot(page, 'phone-390x844');
    await screenshot(page, 'phone-390x844-whole-page', true);
    const size = await overflow(page);
    assert.ok(size.scrollWidth <= size.width, `the phone page scrolls sideways: ${size.scrollWidth} > ${size.width}`);
    assert.deepEqual(errors, [], `page errors: ${errors.join('; ')}`);
  } finally {
    await context.close();
  }
});

function describeViolations(violations) {
  return violations.map((v) => {
    const nodes = v.nodes.slice(0, 5).map((n) => `      at ${n.target.join(' ')}\n        ${n.failureSummary?.replace(/\n/g, '\n        ')}`);
    return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes.join('\n')}`;
  }).join('\n');
}

for (const viewport of [{ width: 1920, height: 1080 }, { width: 3840, height: 2160 }, { width: 390, height: 844 }]) {
  test(`D: no WCAG 2.2 A/AA violations (axe-core) at ${viewport.width}×${viewport.height}`, async () => {
    // addScriptTag injects axe inline, which the page's CSP rightly forbids: bypass it here only.
    const { context, page } = await openWall(viewport, { bypassCSP: true });
    try {
      await page.addScriptTag({ path: AXE_PATH });
      const violations = await page.evaluate(async (tags) => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
          nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
      }, AXE_TAGS);
      assert.equal(violations.length, 0, `axe found violations:\n${describeViolations(violations)}`);
    } finally {
      await context.close();
    }
  });
}
