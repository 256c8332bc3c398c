// The control-room wall on a 20-site region, against a running platform
// (services/integration-tests/tests/slow/wall_browser.rs starts it, scripts the events and computes the
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
// The work dir also holds layout.json: every site's name, the OPEL levels the platform holds
// ({scope: {level, words}}), how many care categories the homes offer and the newest alert.
//
// A: at 1920×1080 the served page shows every site's, trust's and the system's figures exactly as
//    expected-a.json; after the second sequence the same open page shows expected-b.json, without
//    reload; everything fits the screen (no scrolling either way).
// B: the same at 3840×2160 (a fresh page).
// C: on a phone (390×844) the same figures, and the page never scrolls sideways.
// A–C also check the layout with long names, OPEL 4 and an alert banner: nothing is cut off
//    (an element that hides its overflow shows all of it, unless shortened on purpose with "…" and
//    its full text as title), no card, figure or label is too small for its content, sticks out of
//    its card or overlaps another, every card is on the screen, every site's full name is on the
//    page, each OPEL badge shows "OPEL n" and a short word on a card (the full words on the
//    system's banner) and gives screen readers the full words, the alert banner shows the newest
//    alert, and every care category has its row on the screen.
// D: axe-core finds no WCAG 2.2 A/AA violation at each of the three sizes.
// E: a screen addressed with ?pages=opel,urgent&seconds=5 has only those pages' buttons, shows them
//    in turn, and holds a page its button shows until "Hold this page" is pressed again.
// At the wall sizes, A and B show each of the wall's rotating pages in turn (its page buttons) and
// check every page: text a person reads is at least 20 px at 1920×1080 (key figures at least
// 40 px), scaled by the width at 3840×2160; nothing cut off, off the screen or overlapping; every
// site card, OPEL badge and care category on one of the pages. The cue for a figure that just
// changed uses no colour of an OPEL badge or an alert. The system and each trust have a 24-hour
// chart whose latest point is the projection's occupancy; ED and ambulance counts and each OPEL
// level's reason are checked with the other figures. The 1920×1080 picture of the first page is
// written to docs/images/control-room-wall.png for the README.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const CHROMIUM = process.env.PF_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.PF_SCREENSHOT_DIR || '';
/** The README's picture of the wall (kept current by this test). */
const DOCS_IMAGE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'images', 'control-room-wall.png');
/** At 1920 px wide: the smallest text a person reads from the back of the room, and key figures. */
const LABEL_FLOOR_PX = 20;
const FIGURE_FLOOR_PX = 40;
/**
 * Key figures: the system's headline row, the ED/ambulance line, each card's headline, an acute
 * card's ED and ambulance figures and the ED and ambulances table's.
 */
const KEY_FIGURES = ['.pf-stats--system .pf-stat__value', '.pf-top__urgent .pf-fig', '.pf-stats--headline .pf-stat__value',
  '.pf-stats--urgent .pf-stat__value', '.pf-urgent .nhsuk-table__cell--numeric'].join(', ');
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
/** ED and ambulance counts (the system's and each acute site's), and the ambulance service's own
 *  escalation level (the system's), compared where the expected file has them. */
const URGENT_FIELDS = ['in_department', 'over_4h', 'over_12h', 'waiting_for_bed', 'vehicles_waiting', 'handovers_over_60',
  'ambulance_level'];
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
let layout;

before(async () => {
  cfg = settings();
  layout = readJson('layout.json');
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

async function openWall(viewport, extra = {}, query = '') {
  const context = await browser.newContext({ viewport, ...extra });
  await context.addCookies([{ name: 'pf_session', value: cfg.session, url: cfg.gateway, httpOnly: true, sameSite: 'Lax' }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  const response = await page.goto(`${cfg.gateway}/control-room${query}`, { waitUntil: 'load' });
  assert.equal(response?.status(), 200, `GET /control-room answered ${response?.status()}`);
  await page.waitForFunction(() => document.getElementById('live-status')?.textContent.trim() === 'Live',
    null, { timeout: LIVE_TIMEOUT_MS }).catch(async () => {
    throw new Error(`the page never went Live: ${await page.locator('#live-status').textContent()}`);
  });
  return { context, page, errors };
}

/** Every difference between the page and `expected`, as lines a person can act on. */
async function differences(page, expected) {
  return page.evaluate(({ expected, shown, pathwayFields, urgent }) => {
    const out = [];
    const text = (el) => el.textContent.replace(/\s+/g, ' ').trim();
    for (const [scope, fields] of Object.entries(expected)) {
      const kind = scope === 'system' ? 'system' : scope.startsWith('trust:') ? 'trust' : 'site';
      for (const field of [...shown[kind], ...urgent.filter((f) => f in fields)]) {
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
  }, { expected, shown: SHOWN, pathwayFields: PATHWAY_FIELDS, urgent: URGENT_FIELDS });
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

/**
 * What is cut off, too small for its content, off the screen or overlapping, as lines a person can
 * act on; and what is shortened on purpose ("…", with its full text as title).
 */
async function layoutProblems(page, wall) {
  return page.evaluate(LAYOUT_CHECK, { wall, names: layout.names });
}

const LAYOUT_CHECK = (({ wall, names }) => {
  const out = [];
  const truncated = [];
  const vw = document.documentElement.clientWidth;
  const vh = document.documentElement.clientHeight;
  const squash = (s) => s.replace(/\s+/g, ' ').trim();
  const describe = (el) => {
    const card = el.closest('[data-site-card]');
    const where = card ? `card ${card.getAttribute('data-site-card')}` : (el.closest('[id]')?.id || 'page');
    const cls = typeof el.className === 'string' ? el.className.split(' ')[0] : el.tagName.toLowerCase();
    const field = el.getAttribute('data-field');
    return `${where}: ${cls || el.tagName.toLowerCase()}${field ? `[${field}]` : ''} "${squash(el.textContent).slice(0, 40)}"`;
  };
  const shown = (el) => {
    if (!el.getClientRects().length) return false; // display: none, or inside it
    const r = el.getBoundingClientRect();
    if (r.width <= 1 && r.height <= 1) return false; // visually hidden, for screen readers only
    return getComputedStyle(el).visibility !== 'hidden';
  };
  /** Cut short on purpose: "…" (text-overflow or line-clamp) and the whole text in its title. */
  const deliberatelyShortened = (el) => {
    const cs = getComputedStyle(el);
    const ellipsis = cs.textOverflow === 'ellipsis' || (cs.webkitLineClamp && cs.webkitLineClamp !== 'none');
    return ellipsis && squash(el.title || '') === squash(el.textContent);
  };
  const overflows = (el) => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
  const size = (el) => `${el.scrollWidth}×${el.scrollHeight} in ${el.clientWidth}×${el.clientHeight}`;

  // Nothing is cut off: an element that hides its overflow shows all of its content (unless it
  // is shortened on purpose, with "…" and its title); on a wall nothing scrolls inside the page.
  for (const el of document.querySelectorAll('main *')) {
    if (!shown(el)) continue;
    const cs = getComputedStyle(el);
    const hides = [cs.overflowX, cs.overflowY].some((o) => o === 'hidden' || o === 'clip');
    const scrolls = [cs.overflowX, cs.overflowY].some((o) => o === 'auto' || o === 'scroll');
    if (!overflows(el)) continue;
    if (hides && deliberatelyShortened(el)) truncated.push(describe(el));
    else if (hides) out.push(`${describe(el)} cuts off its content (${size(el)})`);
    else if (scrolls && wall) out.push(`${describe(el)} scrolls on a wall (${size(el)})`);
    else if (scrolls && !(el.getAttribute('role') === 'region' && el.tabIndex === 0)) {
      out.push(`${describe(el)} scrolls but is not a region a keyboard can reach (${size(el)})`);
    }
  }
  // Every card and figure holds its content (an overflowing figure would run into its neighbour).
  const boxes = document.querySelectorAll(
    '.pf-site, .pf-stat, .pf-stat__label, .pf-stat__value, .pf-opel, .pf-site__pathways, td[data-field], th[data-field], .pf-side__block, .pf-care, .pf-system, .pf-alerts');
  for (const el of boxes) {
    if (!shown(el)) continue;
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    if (overflows(el) && !deliberatelyShortened(el) && !(scrolls && !wall)) out.push(`${describe(el)} is too small for its content (${size(el)})`);
  }
  // Every card, and the blocks beside them, within the screen (a wall: all of it; a phone: its width).
  for (const el of document.querySelectorAll('.pf-site, .pf-system, .pf-side__block, .pf-care, .pf-alerts, .pf-top > *')) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.right > vw + 0.5 || (wall && (r.top < -0.5 || r.bottom > vh + 0.5))) {
      out.push(`${describe(el)} is off the screen (${Math.round(r.left)},${Math.round(r.top)}–${Math.round(r.right)},${Math.round(r.bottom)} of ${vw}×${vh})`);
    }
  }
  // No two cards overlap, and nothing on a card overlaps anything else on it.
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const cards = [...document.querySelectorAll('[data-site-card]')].filter(shown);
  const rects = cards.map((c) => c.getBoundingClientRect());
  for (let i = 0; i < cards.length; i++) {
    for (let j = i + 1; j < cards.length; j++) {
      if (overlap(rects[i], rects[j])) out.push(`cards ${cards[i].dataset.siteCard} and ${cards[j].dataset.siteCard} overlap`);
    }
    const parts = [...cards[i].querySelectorAll(
      '.pf-site__name, .pf-opel, .pf-site__meta, .pf-stat__label, .pf-stat__value, .pf-site__discharged, .pf-site__pathway, .pf-trend__chart')].filter(shown);
    const pr = parts.map((p) => p.getBoundingClientRect());
    for (let a = 0; a < parts.length; a++) {
      const c = rects[i];
      if (pr[a].left < c.left - 0.5 || pr[a].right > c.right + 0.5 || pr[a].top < c.top - 0.5 || pr[a].bottom > c.bottom + 0.5) {
        out.push(`${describe(parts[a])} sticks out of its card`);
      }
      for (let b = a + 1; b < parts.length; b++) {
        if (overlap(pr[a], pr[b])) out.push(`${describe(parts[a])} overlaps ${describe(parts[b])}`);
      }
    }
  }
  // Every site's name in full: shown whole, or shortened on purpose with the whole name as its title.
  for (const [code, name] of Object.entries(names)) {
    const el = document.querySelector(`#site-${CSS.escape(code)}-name`);
    if (!el) { out.push(`no name for ${code}`); continue; }
    if (squash(el.textContent) !== name) out.push(`${code}'s name reads ${JSON.stringify(squash(el.textContent))}, not ${JSON.stringify(name)}`);
    if (overflows(el) && !deliberatelyShortened(el)) out.push(`${code}'s name is cut off without "…" and a title`);
  }
  const lowest = Math.max(...[...document.querySelectorAll('.pf-site, .pf-side__block, .pf-care, .pf-chart, .pf-system')].filter(shown)
    .map((el) => el.getBoundingClientRect().bottom));
  return { problems: out, truncated, spare: Math.floor(vh - lowest) };
});

/** The OPEL badges, the alert banner and the care categories, against layout.json. */
async function contentProblems(page, wall) {
  return page.evaluate(({ opel, categories, latestAlert, wall }) => {
    const out = [];
    const checked = { opel: [], categories: [] };
    const squash = (s) => s.replace(/\s+/g, ' ').trim();
    const shown = (el) => el.getClientRects().length > 0 && (() => {
      const r = el.getBoundingClientRect();
      return r.width > 1 || r.height > 1;
    })();
    /** The text a sighted reader sees: text in elements that are shown. */
    const seen = (el) => {
      const parts = [];
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (shown(n.parentElement)) parts.push(n.textContent);
      }
      return squash(parts.join(''));
    };
    const short = { 1: 'Steady', 2: 'Moderate', 3: 'Severe', 4: 'Extreme' };
    for (const [scope, o] of Object.entries(opel)) {
      const badge = document.querySelector(`[data-opel="${CSS.escape(scope)}"]`);
      if (!badge) { out.push(`${scope}: no OPEL badge`); continue; }
      // Why the level is what it is: pf-pressure's reason, word for word.
      const reason = squash(badge.querySelector('[data-opel-field="reason"]')?.textContent || '');
      if (reason !== o.reason) out.push(`${scope}: the OPEL reason reads ${JSON.stringify(reason)}, not ${JSON.stringify(o.reason)}`);
      if (wall && !shown(badge)) continue; // on another of the wall's pages
      checked.opel.push(scope);
      const full = `OPEL ${o.level} ${o.words}`;
      if (!badge.classList.contains(`pf-opel--${o.level}`)) out.push(`${scope}: the badge is not coloured for OPEL ${o.level}`);
      // A card's short word is generated content (control-room.css), not text of the page.
      const after = getComputedStyle(badge.querySelector('.pf-opel__name'), '::after').content;
      const generated = /^"([^"]*)"/.exec(after)?.[1] ?? '';
      const shows = squash(`${seen(badge)} ${generated}`);
      const card = badge.closest('[data-site-card]');
      const want = card ? `OPEL ${o.level} ${short[o.level]}` : `${full} ${o.reason}`;
      if (shows !== want) out.push(`${scope}: the badge shows ${JSON.stringify(shows)}, not ${JSON.stringify(want)}`);
      if (card && badge.getBoundingClientRect().width > card.getBoundingClientRect().width * 0.3) {
        out.push(`${scope}: the badge takes more than 30% of its card's width`);
      }
    }
    const banner = document.getElementById('pf-alerts');
    const latest = banner?.querySelector('[data-alert-latest]');
    if (!banner || !shown(banner) || !latest || !seen(latest).endsWith(latestAlert)) {
      out.push(`the alert banner does not show the newest alert (${JSON.stringify(latest && seen(latest))})`);
    }
    const rows = [...document.querySelectorAll('[data-category-row]')];
    if (rows.length !== categories) out.push(`${rows.length} care categories on the page, not ${categories}`);
    for (const row of rows) {
      const r = row.getBoundingClientRect();
      if (wall && !shown(row)) continue; // on another of the wall's pages
      if (!shown(row) || (wall && r.bottom > document.documentElement.clientHeight + 0.5)) {
        out.push(`care category ${row.dataset.categoryRow} is not on the screen`);
      } else {
        checked.categories.push(row.dataset.categoryRow);
      }
    }
    return { out, checked };
  }, { opel: layout.opel, categories: layout.care_categories, latestAlert: layout.latest_alert, wall });
}

/**
 * Text smaller than the floor for this screen: every shown element with text of its own at least
 * `label` px, key figures at least `figure` px.
 */
async function fontProblems(page, label, figure) {
  return page.evaluate(({ label, figure, keys }) => {
    const out = [];
    const squash = (s) => s.replace(/\s+/g, ' ').trim();
    const shown = (el) => {
      if (!el.getClientRects().length) return false;
      const r = el.getBoundingClientRect();
      if (r.width <= 1 && r.height <= 1) return false;
      if (r.right <= 0 || r.bottom <= 0) return false; // a skip link, off the screen until focused
      return getComputedStyle(el).visibility !== 'hidden';
    };
    const ownText = (el) => squash([...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent).join(''));
    const where = (el) => (el.closest('[data-site-card]')?.getAttribute('data-site-card')
      || el.closest('[id]')?.id || 'page');
    for (const el of document.querySelectorAll('body *')) {
      if (['SCRIPT', 'STYLE', 'TEMPLATE', 'svg', 'path'].includes(el.tagName) || !shown(el)) continue;
      const text = ownText(el);
      if (!text) continue;
      const px = Number.parseFloat(getComputedStyle(el).fontSize);
      if (px < label - 0.5) out.push(`${where(el)}: "${text.slice(0, 40)}" is ${px} px, under ${label} px`);
    }
    for (const el of document.querySelectorAll(keys)) {
      if (!shown(el)) continue;
      const px = Number.parseFloat(getComputedStyle(el).fontSize);
      if (px < figure - 0.5) out.push(`${where(el)}: key figure "${squash(el.textContent).slice(0, 40)}" is ${px} px, under ${figure} px`);
    }
    return out;
  }, { label, figure, keys: KEY_FIGURES });
}

/** The wall's pages (their names, in order), or one unnamed page when the screen shows all at once. */
async function wallPages(page) {
  const names = await page.evaluate(() => [...document.querySelectorAll('[data-wall-page]')]
    .map((el) => el.getAttribute('data-wall-page')));
  return names.length ? names : [null];
}

/** Shows one of the wall's pages with its own button (which also holds the rotation there). */
async function showWallPage(page, name) {
  if (name === null) return;
  await page.locator(`[data-wall-show="${name}"]`).click();
  await page.waitForFunction((n) => {
    const el = document.querySelector(`[data-wall-page="${n}"]`);
    return el && el.getClientRects().length > 0;
  }, name, { timeout: UPDATE_TIMEOUT_MS });
}

/**
 * The cue for a figure that just changed: none of its colours is one an OPEL badge or an alert
 * uses, so a changed figure never reads as a level or an alarm.
 */
async function changeCueProblems(page) {
  return page.evaluate(() => {
    const colours = (style) => ['backgroundColor', 'color', 'borderColor', 'boxShadow', 'outlineColor', 'textDecorationColor']
      .map((p) => style[p]).filter(Boolean).join(' ')
      .match(/#[0-9a-f]{3,8}\b|rgba?\([^)]*\)/gi) || [];
    const norm = (c) => {
      const probe = document.createElement('i');
      probe.style.color = c;
      document.body.append(probe);
      const v = getComputedStyle(probe).color;
      probe.remove();
      return v;
    };
    const alerting = new Set();
    const cue = [];
    const found = [];
    const walk = (rules) => {
      for (const rule of rules) {
        if (rule.cssRules && !(rule instanceof CSSKeyframesRule)) walk(rule.cssRules);
        if (rule instanceof CSSKeyframesRule && /^pf-changed/.test(rule.name)) {
          found.push(rule.name);
          for (const frame of rule.cssRules) colours(frame.style).map(norm).forEach((c) => cue.push(c));
        } else if (rule.selectorText && /pf-opel--|pf-alerts/.test(rule.selectorText)) {
          colours(rule.style).map(norm).forEach((c) => alerting.add(c));
        }
      }
    };
    for (const sheet of document.styleSheets) {
      try { walk(sheet.cssRules); } catch { /* another origin's sheet: none on this page */ }
    }
    const out = [];
    if (!found.length) out.push('no "changed" cue (@keyframes pf-changed) in the page\'s styles');
    const transparent = norm('transparent');
    for (const c of new Set(cue)) {
      if (c !== transparent && alerting.has(c)) out.push(`the "changed" cue uses ${c}, an OPEL or alert colour`);
    }
    return out;
  });
}

/** What screen readers get from each OPEL badge: its level's full words, said once. */
async function spokenOpelProblems(page) {
  const out = [];
  for (const [scope, o] of Object.entries(layout.opel)) {
    const badge = page.locator(`[data-opel="${scope}"]`);
    if (!await badge.isVisible()) continue; // on another of the wall's pages (each page is checked)
    const snapshot = await badge.ariaSnapshot();
    const spoken = snapshot.replace(/^- paragraph:\s*/, '').replace(/^"(.*)"$/, '$1').trim();
    const full = `OPEL ${o.level} ${o.words} ${o.reason}`;
    if (spoken !== full) out.push(`${scope}: screen readers get ${JSON.stringify(spoken)}, not ${JSON.stringify(full)}`);
  }
  return out;
}

/**
 * Fails on any layout or content problem at this size (on a wall, on each of its pages: the font
 * floor too); notes the names shortened on purpose.
 */
async function assertReadable(t, page, when, wall) {
  // The care homes may reach the page a moment after it opened.
  await page.waitForFunction((n) => document.querySelectorAll('[data-category-row]').length === n,
    layout.care_categories, { timeout: UPDATE_TIMEOUT_MS }).catch(() => {});
  const scale = (await page.evaluate(() => document.documentElement.clientWidth)) / 1920;
  const all = [];
  const opelSeen = new Set();
  const categoriesSeen = new Set();
  const cardsSeen = new Set();
  for (const name of wall ? await wallPages(page) : [null]) {
    await showWallPage(page, name);
    const at = name ? `page "${name}": ` : '';
    if (name) await screenshot(page, `wall-${when.replace(/\W+/g, '-')}-${name}`);
    const { problems, truncated, spare } = await layoutProblems(page, wall);
    const { out, checked } = await contentProblems(page, wall);
    checked.opel.forEach((s) => opelSeen.add(s));
    checked.categories.forEach((c) => categoriesSeen.add(c));
    (await page.evaluate(() => [...document.querySelectorAll('[data-site-card]')]
      .filter((c) => c.getClientRects().length).map((c) => c.dataset.siteCard))).forEach((c) => cardsSeen.add(c));
    all.push(...[...problems, ...out, ...await spokenOpelProblems(page)].map((p) => at + p));
    if (wall) {
      all.push(...(await fontProblems(page, LABEL_FLOOR_PX * scale, FIGURE_FLOOR_PX * scale)).map((p) => at + p));
      t.diagnostic(`${when}, ${at || 'the page'}: ${spare} px to spare under the lowest card`);
    }
    t.diagnostic(`${when}, ${at || 'the page'}: ${truncated.length ? `shortened with "…" (full text in title and for screen readers): ${truncated.join('; ')}` : 'nothing shortened'}`);
  }
  if (wall) {
    for (const scope of Object.keys(layout.opel)) {
      if (!opelSeen.has(scope)) all.push(`${scope}'s OPEL badge is on none of the wall's pages`);
    }
    if (categoriesSeen.size !== layout.care_categories) {
      all.push(`${categoriesSeen.size} care categories on the wall's pages, not ${layout.care_categories}`);
    }
    for (const code of cfg.sites) {
      if (!cardsSeen.has(code)) all.push(`site ${code}'s card is on none of the wall's pages`);
    }
    all.push(...await changeCueProblems(page));
  }
  assert.deepEqual(all, [], `${when}: the wall is not readable:\n  ${all.slice(0, 60).join('\n  ')}`);
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

test('A: 1920×1080 — served figures equal the projection, a second sequence arrives live, one screen', async (t) => {
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
    // Each trust has its own chart, its sites' history added up.
    const trusts = Object.keys(expectedB).filter((k) => k.startsWith('trust:'));
    await page.waitForFunction((keys) => keys.every((k) => /^M/.test(
      document.querySelector(`[data-trend="${CSS.escape(k)}"] [data-trend-line="today"]`)?.getAttribute('d') || '')),
    trusts, { timeout: UPDATE_TIMEOUT_MS }).catch(() => {
      throw new Error(`not every trust's occupancy chart has its line (${trusts.join(', ')})`);
    });
    const wantTrusts = Object.fromEntries(trusts.map((k) => [k, Math.round(Number.parseFloat(expectedB[k].occupancy_pct))]));
    await page.waitForFunction((want) => Object.entries(want).every(([k, pct]) => {
      const summary = document.querySelector(`[data-trend="${CSS.escape(k)}"] [data-trend-field="summary"]`)?.textContent || '';
      const now = /now (\d+)/.exec(summary);
      return now && Number(now[1]) === pct;
    }), wantTrusts, { timeout: UPDATE_TIMEOUT_MS }).catch(async () => {
      const said = await page.evaluate((keys) => keys.map((k) => `${k}: ${document.querySelector(`[data-trend="${CSS.escape(k)}"] [data-trend-field="summary"]`)?.textContent}`), trusts);
      throw new Error(`the trusts' charts do not end at the projection's occupancy ${JSON.stringify(wantTrusts)}: ${said.join('; ')}`);
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
    await new Promise((r) => setTimeout(r, 6500)); // let the "changed" cues fade for the picture
    await screenshot(page, 'wall-1920x1080-live');
    await assertReadable(t, page, 'at 1920×1080', true);
    // The README's picture: the wall's first page, as a screen in the room shows it.
    await showWallPage(page, (await wallPages(page))[0]);
    mkdirSync(dirname(DOCS_IMAGE), { recursive: true });
    await page.screenshot({ path: DOCS_IMAGE });
    const size = await overflow(page);
    assert.ok(size.scrollHeight <= size.height && size.scrollWidth <= size.width,
      `20 sites do not fit 1920×1080 without scrolling: the page is ${size.scrollWidth}×${size.scrollHeight}`);
    assert.deepEqual(errors, [], `page errors: ${errors.join('; ')}`);
  } finally {
    await context.close();
  }
});

test('B: 3840×2160 — the same figures, one screen', async (t) => {
  assert.ok(expectedB, 'test A did not get the second sequence');
  const { context, page, errors } = await openWall({ width: 3840, height: 2160 });
  try {
    await assertEveryCard(page);
    await assertEqualsProjection(page, expectedB, 'at 3840×2160');
    await screenshot(page, 'wall-3840x2160');
    await assertReadable(t, page, 'at 3840×2160', true);
    const size = await overflow(page);
    assert.ok(size.scrollHeight <= size.height && size.scrollWidth <= size.width,
      `20 sites do not fit 3840×2160 without scrolling: the page is ${size.scrollWidth}×${size.scrollHeight}`);
    assert.deepEqual(errors, [], `page errors: ${errors.join('; ')}`);
  } finally {
    await context.close();
  }
});

test('C: a phone (390×844) — the same figures, never sideways scrolling', async (t) => {
  assert.ok(expectedB, 'test A did not get the second sequence');
  const { context, page, errors } = await openWall({ width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  try {
    await assertEveryCard(page);
    await assertEqualsProjection(page, expectedB, 'on a phone');
    await screenshot(page, 'phone-390x844');
    await screenshot(page, 'phone-390x844-whole-page', true);
    const size = await overflow(page);
    assert.ok(size.scrollWidth <= size.width, `the phone page scrolls sideways: ${size.scrollWidth} > ${size.width}`);
    await assertReadable(t, page, 'on a phone', false);
    assert.deepEqual(errors, [], `page errors: ${errors.join('; ')}`);
  } finally {
    await context.close();
  }
});

test('E: a screen picks its own pages and pace from its address, and can hold a page', async () => {
  const { context, page, errors } = await openWall({ width: 1920, height: 1080 }, {}, '?pages=opel,urgent&seconds=5');
  try {
    const current = () => page.evaluate(() => [...document.querySelectorAll('[data-wall-page]')]
      .filter((el) => el.getClientRects().length).map((el) => el.getAttribute('data-wall-page')));
    const buttons = await page.evaluate(() => [...document.querySelectorAll('[data-wall-show]')]
      .filter((el) => el.getClientRects().length).map((el) => el.getAttribute('data-wall-show')));
    assert.deepEqual(buttons.sort(), ['opel', 'urgent'], 'only the pages this screen shows have a button');
    assert.deepEqual(await current(), ['opel'], 'the first page in the address shows first, alone');
    // Its turn ends: the next page of the address (and only it) shows.
    await page.waitForFunction(() => {
      const shown = [...document.querySelectorAll('[data-wall-page]')].filter((el) => el.getClientRects().length);
      return shown.length === 1 && shown[0].getAttribute('data-wall-page') === 'urgent';
    }, null, { timeout: UPDATE_TIMEOUT_MS });
    assert.equal(await page.locator('[data-wall-show="urgent"]').getAttribute('aria-pressed'), 'true');
    // Held: a page button shows its page and the turns stop until "Hold this page" is pressed again.
    await page.locator('[data-wall-show="opel"]').click();
    assert.equal(await page.locator('[data-wall-hold]').getAttribute('aria-pressed'), 'true');
    await new Promise((r) => setTimeout(r, 6000)); // longer than a turn
    assert.deepEqual(await current(), ['opel'], 'a held page stays');
    await page.locator('[data-wall-hold]').click();
    await page.waitForFunction(() => document.querySelector('[data-wall-page="urgent"]')?.getClientRects().length > 0,
      null, { timeout: UPDATE_TIMEOUT_MS });
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
