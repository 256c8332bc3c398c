// Browser tests of organisation sign-in through a real OpenID provider (`oidc-provider`, started by
// `oidc-provider/start.mjs` and shaped like NHS CIS2 or Entra ID), as staff do it: the sign-in page's
// "Sign in with your organisation's account", the provider's own page, and back to Patient Flow with a
// session whose roles come from the trust's mapping file alone.
//
//   PF_IDENTITY_URL=http://127.0.0.1:PORT        the identity service, configured with the provider
//   PF_SIGN_IN_PEOPLE=acct=role,acct=role,...    accounts at the provider and the one role each must get
//   PF_SIGN_IN_NO_ROLE=acct                      an account the mapping gives no role
//   [PF_CHROMIUM=/usr/bin/chromium]
//   node --test tests/organisation-sign-in.test.mjs
//
// axe-core (WCAG 2.2 AA) checks the sign-in page and the page that turns away a person with no role.
// Nothing is skipped: missing settings fail the run with a message saying what to set.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const CHROMIUM = process.env.PF_CHROMIUM || '/usr/bin/chromium';

function settings() {
  const names = ['PF_IDENTITY_URL', 'PF_SIGN_IN_PEOPLE', 'PF_SIGN_IN_NO_ROLE'];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`organisation sign-in browser tests need these environment variables: ${missing.join(', ')}`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PF_CHROMIUM`);
  }
  return {
    identity: process.env.PF_IDENTITY_URL.replace(/\/+$/, ''),
    people: process.env.PF_SIGN_IN_PEOPLE.split(',').map((pair) => pair.split('=')),
    noRole: process.env.PF_SIGN_IN_NO_ROLE,
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

/** Runs axe-core on the page as it is, at a phone and a desktop width. */
async function assertAccessible(page, state) {
  for (const viewport of [{ width: 360, height: 740 }, { width: 1280, height: 800 }]) {
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
  }
}

/** From Patient Flow's sign-in page through the provider's page, as `account`; the page where it ends. */
async function signIn(context, account, checkPages = false) {
  const page = await context.newPage();
  await page.goto(`${cfg.identity}/sign-in?return_to=/api/v1/me`);
  if (checkPages) await assertAccessible(page, 'sign-in page');
  await page.getByRole('button', { name: /sign in with your organisation/i }).click();
  await page.getByLabel('Account').fill(account);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${cfg.identity}/**`);
  await page.waitForLoadState('load');
  return page;
}

test('each person lands on Patient Flow signed in, with the role the mapping gives', async () => {
  let first = true;
  for (const [account, role] of cfg.people) {
    const context = await browser.newContext();
    const page = await signIn(context, account, first);
    first = false;
    assert.equal(new URL(page.url()).pathname, '/api/v1/me', `${account} ended at ${page.url()}`);
    const me = JSON.parse(await page.locator('body').innerText());
    assert.deepEqual(me.roles, [role], `${account}: ${JSON.stringify(me)}`);
    const cookies = await context.cookies(cfg.identity);
    const session = cookies.find((c) => c.name === 'pf_session');
    assert.ok(session?.httpOnly, `${account} has an HttpOnly session cookie`);
    await context.close();
  }
});

test('a person with no mapped role is told so, plainly and accessibly, and not signed in', async () => {
  const context = await browser.newContext();
  const page = await signIn(context, cfg.noRole);
  await assert.doesNotReject(page.getByRole('heading', { name: 'You do not have a role on Patient Flow' }).waitFor());
  await assertAccessible(page, 'no-role page');
  const cookies = await context.cookies(cfg.identity);
  assert.equal(cookies.find((c) => c.name === 'pf_session'), undefined);
  await context.close();
});
