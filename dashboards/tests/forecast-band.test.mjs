// Browser test of the wall's forecast band (static/forecast-band.js), against a running platform and
// a running, fitted pf-forecast:
//
//   PF_GATEWAY_URL=http://127.0.0.1:PORT    the gateway (the control-room wall)
//   PF_FORECAST_URL=http://127.0.0.1:PORT   pf-forecast (its JSON API)
//   PF_VIEWER_SESSION=…                     a control-room viewer's session
//   PF_FORECAST_SITE=RWEAA                  an acute site with G&A beds on the wall
//   [PF_CHROMIUM=/usr/bin/chromium]
//   node --test tests/forecast-band.test.mjs
//
// The band reads /api/v1/forecast/{scope} at the wall's own origin. The gateway does not serve
// that path: in production the Helm chart's ingress routes it to pf-forecast, and locally
// (scripts/start) nothing does, so the wall shows no band there. Each test says which case it is:
// with the ingress's routing (done here by the browser context, to the real pf-forecast, nothing
// stubbed) the band and "Predicted OPEL tomorrow 08:00" show the forecast service's own figures;
// with the gateway alone the wall stays as it is, without errors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const CHROMIUM = process.env.PF_CHROMIUM || '/usr/bin/chromium';
const WALL = { width: 1920, height: 1080 };

function settings() {
  const names = ['PF_GATEWAY_URL', 'PF_FORECAST_URL', 'PF_VIEWER_SESSION', 'PF_FORECAST_SITE'];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`forecast band browser tests need these environment variables: ${missing.join(', ')}`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PF_CHROMIUM`);
  }
  const trim = (u) => u.replace(/\/+$/, '');
  return {
    gateway: trim(process.env.PF_GATEWAY_URL),
    forecast: trim(process.env.PF_FORECAST_URL),
    session: process.env.PF_VIEWER_SESSION,
    site: process.env.PF_FORECAST_SITE,
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

/** The forecast service's own answer for `scope`, read directly (not through the page). */
async function forecastOf(scope) {
  const response = await fetch(`${cfg.forecast}/api/v1/forecast/${scope}`, {
    headers: { cookie: `pf_session=${cfg.session}` },
  });
  assert.equal(response.status, 200, `pf-forecast for ${scope}`);
  return (await response.json()).scope;
}

/** What the band's caption must say for an occupancy forecast. */
function caption(series) {
  const p = series.points;
  const last = p[p.length - 1];
  return `Next 72 h (forecast): ${Math.round(p[0].value)}% now to ${Math.round(last.value)}% ` +
    `(80% range ${Math.round(last.lower_80)}–${Math.round(last.upper_80)}%)`;
}

/** What the OPEL line must begin with. */
function opelLine(opel) {
  return `Predicted OPEL tomorrow 08:00: ${opel.tomorrow_0800.level}`;
}

/** The wall, signed in; `routeForecast` routes /api/v1/forecast as the ingress does. */
async function wall(routeForecast) {
  const context = await browser.newContext({ viewport: WALL });
  await context.addCookies([{ name: 'pf_session', value: cfg.session, url: cfg.gateway, httpOnly: true, sameSite: 'Lax' }]);
  const routed = [];
  if (routeForecast) {
    await context.route(`${cfg.gateway}/api/v1/forecast/**`, async (route) => {
      const url = new URL(route.request().url());
      routed.push(url.pathname);
      const response = await route.fetch({
        url: `${cfg.forecast}${url.pathname}${url.search}`,
        headers: { ...route.request().headers(), cookie: `pf_session=${cfg.session}` },
      });
      await route.fulfill({ response });
    });
  }
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/404/.test(m.text())) errors.push(m.text()); });
  return { context, page, errors, routed };
}

test('with /api/v1/forecast routed to pf-forecast (the ingress), the band and predicted OPEL show its figures', async () => {
  const [system, site] = [await forecastOf('system'), await forecastOf(cfg.site)];
  assert.ok(system.series.ga_occupancy_pct, 'the system has an occupancy forecast');
  assert.ok(site.series.ga_occupancy_pct, `${cfg.site} has an occupancy forecast`);
  const { context, page, errors, routed } = await wall(true);
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/forecast/system'));
  const response = await page.goto(`${cfg.gateway}/control-room`);
  assert.equal(response.status(), 200);
  assert.equal((await answered).status(), 200, 'the routed forecast answered');

  for (const [scope, forecast] of [['system', system], [cfg.site, site]]) {
    // At wall size the pages take turns: show (and hold) the page that holds this scope's chart.
    const wallPage = await page.locator(`[data-trend="${scope}"]`)
      .evaluate((el) => el.closest('[data-wall-page]')?.getAttribute('data-wall-page'));
    if (wallPage) await page.locator(`[data-wall-show="${wallPage}"]`).click();
    // The band comes straight after the scope's 24-hour chart.
    const band = page.locator(`[data-trend="${scope}"] + [data-forecast-band="${scope}"]`);
    await band.waitFor({ timeout: 30000 });
    assert.equal(await band.locator('figcaption').textContent(), caption(forecast.series.ga_occupancy_pct), scope);
    const paths = await band.locator('svg path').evaluateAll((ps) => ps.map((p) => p.getAttribute('d')));
    assert.equal(paths.length, 2, `${scope}: the 80% interval and the point forecast`);
    assert.ok(paths.every((d) => /^M[0-9.]+ [0-9.]+(L[0-9.]+ [0-9.]+)+/.test(d)), `${scope}: drawn: ${paths}`);
    assert.equal(await page.locator(`[data-forecast-band="${scope}"]`).count(), 1, `${scope}: one band, not one per refresh`);
    if (forecast.opel && forecast.opel.tomorrow_0800) {
      const line = page.locator(`[data-forecast-opel="${scope}"]`);
      await line.waitFor({ timeout: 30000 });
      const text = await line.textContent();
      assert.ok(text.startsWith(opelLine(forecast.opel)), `${scope}: ${text}`);
      if (forecast.opel.tomorrow_0800.held_at_latest.length) assert.match(text, /held at latest\)$/);
    } else {
      assert.fail(`${scope} has no OPEL forecast for tomorrow 08:00 to show`);
    }
  }
  assert.ok(routed.includes('/api/v1/forecast/system') && routed.includes(`/api/v1/forecast/${cfg.site}`), routed.join());

  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => `[${v.impact}] ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  }, AXE_TAGS);
  assert.deepEqual(violations, [], `axe on the wall with its forecast band:\n${violations.join('\n')}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test('with the gateway alone (no route for /api/v1/forecast, as scripts/start serves the wall), the wall stays as it is', async () => {
  const { context, page, errors } = await wall(false);
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/forecast/system'));
  const response = await page.goto(`${cfg.gateway}/control-room`);
  assert.equal(response.status(), 200);
  assert.equal((await answered).status(), 404, 'the gateway does not serve the forecast');
  // Every request the band made has been answered; give its handlers a turn.
  await page.waitForLoadState('networkidle');
  assert.equal(await page.locator('[data-forecast-band]').count(), 0);
  assert.equal(await page.locator('[data-forecast-opel]').count(), 0);
  assert.ok(await page.locator('[data-trend="system"] svg').isVisible(), 'the 24-hour chart is still there');
  assert.deepEqual(errors, []);
  await context.close();
});
