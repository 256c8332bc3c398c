// Browser tests of the administration pages (pf-identity, /admin/...), as an ICB's system administrator
// uses them: sign in, issue sign-in links for many care-home staff at once (a wrong line first, then
// right) and have them sent through GOV.UK Notify (a local stand-in), register a wall screen and set
// it up from its setup link in the screen's own browser, withdraw a person and see their next request
// refused, and find who withdrew them on the audit page; import care homes from a CQC file with good
// and bad rows (a preview first, nothing imported until confirmed), edit a home's beds and categories,
// and retire it. axe-core (WCAG 2.2 AA) checks every state, at a
// phone and a desktop width; the same journeys work with JavaScript switched off.
//
//   PF_IDENTITY_URL=http://127.0.0.1:PORT   the identity service (demo sign-in on; Notify configured)
//   PF_PERSON_TO_REVOKE=demo-discharge-coordinator   a demo person the test signs in and then withdraws
//   [PF_CHROMIUM=/usr/bin/chromium]
//   node --test tests/admin.test.mjs
//
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
  const names = ['PF_IDENTITY_URL', 'PF_PERSON_TO_REVOKE'];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`administration browser tests need these environment variables: ${missing.join(', ')}`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PF_CHROMIUM`);
  }
  return {
    identity: process.env.PF_IDENTITY_URL.replace(/\/+$/, ''),
    toRevoke: process.env.PF_PERSON_TO_REVOKE,
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

/** Contexts with JavaScript switched off: axe cannot run in their pages. */
const withoutJs = new WeakSet();

/** A new browser context, remembered when JavaScript is off. */
async function newContext(javaScriptEnabled) {
  const context = await browser.newContext({ javaScriptEnabled });
  if (!javaScriptEnabled) withoutJs.add(context);
  return context;
}

/** Runs axe-core on the page as it is, at a phone and a desktop width. A page with JavaScript off
 * cannot run axe (evaluating script there never returns), so its HTML, scripts removed, is checked
 * in a scratch page that resolves its styles and links against the page's own address. */
async function assertAccessible(page, state) {
  if (withoutJs.has(page.context())) {
    const html = (await page.content())
      .replace(/<script\b[\s\S]*?<\/script>/gi, '')
      .replace(/<head([^>]*)>/i, `<head$1><base href="${page.url()}">`);
    const scratch = await browser.newContext();
    try {
      const copy = await scratch.newPage();
      await copy.setContent(html, { waitUntil: 'load' });
      await assertAccessible(copy, state);
    } finally {
      await scratch.close();
    }
    return;
  }
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

/** A browser context signed in as the demo person `id` (the demo sign-in page), on `path`. */
async function signedIn(id, path, javaScriptEnabled = true) {
  const context = await newContext(javaScriptEnabled);
  const page = await context.newPage();
  await page.goto(`${cfg.identity}/sign-in?return_to=${encodeURIComponent(path)}`);
  await page.locator(`input[name="person"][value="${id}"]`).check();
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((url) => url.pathname === path.split('?')[0]);
  return { context, page };
}

for (const js of [true, false]) {
  const how = js ? 'with JavaScript' : 'without JavaScript';

  test(`an administrator finds what needs attention and issues links for many homes at once, ${how}`, async () => {
    const { context, page } = await signedIn('demo-system-admin', '/admin', js);
    try {
      await assert.doesNotReject(page.getByRole('heading', { name: 'What needs attention' }).waitFor());
      await assertAccessible(page, `home page ${how}`);
      await page.getByRole('link', { name: 'Sign-in links' }).click();
      await assertAccessible(page, `links page ${how}`);
      const suffix = js ? 'js' : 'nojs';
      // One wrong line: nothing is issued, and the summary says which line and why.
      await page.getByLabel('One person a line').fill(
        `Jo Bloggs, jo.${suffix}, 1-000000001, jo.${suffix}@example.nhs.uk\nAl Smith, al smith, 1-000000002\n`);
      await page.getByRole('button', { name: 'Issue links', exact: true }).click();
      await page.getByText('There is a problem').waitFor();
      assert.match(await page.title(), /^Error: /);
      assert.match(await page.locator('.nhsuk-error-summary').innerText(), /Line 2:/);
      assert.equal(await page.getByLabel('One person a line').inputValue(),
        `Jo Bloggs, jo.${suffix}, 1-000000001, jo.${suffix}@example.nhs.uk\nAl Smith, al smith, 1-000000002\n`,
        'what was typed is kept');
      await assertAccessible(page, `links page with a refused line ${how}`);
      await page.getByLabel('One person a line').fill(
        `Jo Bloggs, jo.${suffix}, 1-000000001, jo.${suffix}@example.nhs.uk\nAl Smith, al.${suffix}, 1-000000002 1-000000003, 07700 900123\n`);
      await page.getByRole('button', { name: 'Issue links', exact: true }).click();
      await page.getByText('2 links issued').waitFor();
      const jo = page.locator(`li.pf-admin-issued[data-person="jo.${suffix}"]`);
      assert.match(await jo.innerText(), new RegExp(`sent: Email to jo\\.${suffix}@example\\.nhs\\.uk`));
      const row = page.locator(`#link-list tr[data-person="al.${suffix}"]`);
      assert.match(await row.innerText(), /Pending/);
      assert.match(await row.innerText(), /Text message to 07700900123/);
      await assertAccessible(page, `links issued ${how}`);
    } finally {
      await context.close();
    }
  });

  test(`a wall screen is registered and set up from its setup link, ${how}`, async () => {
    const { context, page } = await signedIn('demo-system-admin', '/admin/kiosks', js);
    try {
      const id = js ? 'wall-js' : 'wall-nojs';
      // A screen ID with a space is refused on its field.
      await page.getByLabel('Screen ID').fill('wall one');
      await page.getByLabel('Name people know it by').fill('Control room wall');
      await page.getByRole('button', { name: 'Register screen' }).click();
      await page.getByText('There is a problem').waitFor();
      await assertAccessible(page, `kiosk page with an error ${how}`);
      await page.getByLabel('Screen ID').fill(id);
      await page.getByRole('button', { name: 'Register screen' }).click();
      await page.getByRole('heading', { name: 'Set up Control room wall' }).waitFor();
      const qr = page.getByRole('img', { name: /QR code of the setup link/ });
      assert.equal(await qr.locator('svg').count(), 1, 'the QR code is an inline SVG');
      const box = await qr.locator('svg').boundingBox();
      assert.ok(box && box.width >= 200, 'the QR code is big enough to scan');
      await assertAccessible(page, `registered screen with its QR code ${how}`);
      const link = (await page.locator('#setup-link').innerText()).trim();
      // The screen's own browser opens the link (as a scan would) and is set up.
      const screen = await newContext(js);
      try {
        const wall = await screen.newPage();
        await wall.goto(link);
        await assertAccessible(wall, `screen setup page ${how}`);
        await wall.getByRole('button', { name: /continue/i }).click();
        await wall.waitForURL((url) => url.pathname.endsWith('/api/v1/me'));
        assert.match(await wall.locator('body').innerText(), new RegExp(`kiosk:${id}`));
      } finally {
        await screen.close();
      }
      await page.goto(`${cfg.identity}/admin/kiosks`);
      const row = page.locator(`#kiosks tr[data-kiosk="${id}"]`);
      assert.match(await row.innerText(), /Working/);
      await row.getByRole('button', { name: /Revoke/ }).click();
      await page.getByText(`Wall screen ${id} was revoked`).waitFor();
      assert.match(await page.locator(`#kiosks tr[data-kiosk="${id}"]`).innerText(), /Revoked/);
      await assertAccessible(page, `revoked screen ${how}`);
    } finally {
      await context.close();
    }
  });
}

/** A CQC download with two good rows and two refused ones, the homes' ids ending in `n` (1 or 2). */
function cqcFile(n) {
  return 'Location ID,Location Name,Care home?,Care homes beds,Location Street Address,Location City,Location Postal Code,Location Local Authority,'
    + 'Service type - Care home service with nursing,Service type - Care home service without nursing,Service user band - Dementia\n'
    + `1-91000001${n},Quorn Meadows ${n} (demo),Y,38,12 Meeting Street,Quorn,LE12 8EX,Leicestershire,Y,,Y\n`
    + `1-91000002${n},Braunstone Lodge ${n} (demo),Y,24,5 Narborough Road,Leicester,LE3 2FL,Leicester,,Y,\n`
    + `1-91000003${n},Hinckley Fields ${n} (demo),Y,many,9 Coventry Road,Hinckley,LE10 0JT,Leicestershire,Y,,\n`
    + `1-9${n},Wigston Court ${n} (demo),Y,30,4 Bull Head Street,Wigston,LE18 1PA,Leicestershire,,Y,\n`
    + `1-91000005${n},Trent Bridge House ${n} (demo),Y,40,3 Radcliffe Road,Nottingham,NG2 5FF,Nottingham,Y,,\n`;
}

for (const js of [true, false]) {
  const how = js ? 'with JavaScript' : 'without JavaScript';
  const n = js ? 1 : 2;

  test(`care homes are imported from a CQC file, edited and retired, ${how}`, async () => {
    const { context, page } = await signedIn('demo-system-admin', '/admin/care-homes', js);
    try {
      await page.getByRole('heading', { name: 'Care homes', exact: true }).waitFor();
      await assertAccessible(page, `care-home register ${how}`);
      await page.getByRole('link', { name: 'Import from a CQC file' }).click();
      await page.getByRole('heading', { name: 'Import care homes' }).waitFor();
      await assertAccessible(page, `import page ${how}`);
      // No file: refused on its field.
      await page.getByRole('button', { name: 'Check the file' }).click();
      await page.getByText('There is a problem').waitFor();
      assert.match(await page.locator('.nhsuk-error-summary').innerText(), /The file is empty/);
      await assertAccessible(page, `import page with no file ${how}`);
      await page.setInputFiles('#file', { name: 'cqc.csv', mimeType: 'text/csv', buffer: Buffer.from(cqcFile(n)) });
      await page.getByRole('button', { name: 'Check the file' }).click();
      await page.getByRole('heading', { name: 'Check the import' }).waitFor();
      assert.match(await page.locator('#import-summary').innerText(),
        /Nothing has been imported yet\. Confirming will add 2 and change 0 care homes\. 2 rows are refused/);
      const refused = page.locator('#refused-rows');
      assert.match(await refused.locator('tr[data-line="4"]').innerText(), /Care homes beds is "many", which is not a whole number/);
      assert.match(await refused.locator('tr[data-line="5"]').innerText(), new RegExp(`"1-9${n}" is not a CQC location ID`));
      assert.match(await page.locator('main').innerText(), /1 rows for places outside/);
      await assertAccessible(page, `import preview with refused rows ${how}`);
      // Nothing yet on the register.
      const register = await context.newPage();
      await register.goto(`${cfg.identity}/admin/care-homes?q=Quorn+Meadows+${n}`);
      assert.match(await register.locator('#results').innerText(), /^0 of/);
      await register.close();
      await page.getByRole('button', { name: 'Import 2 care homes' }).click();
      await page.getByText('The import is done: 2 care homes were added or changed.').waitFor();
      await assertAccessible(page, `register after the import ${how}`);

      // Edit: a wrong number of beds is refused on its field, then more beds and another category.
      await page.getByLabel('Find a care home').fill(`Braunstone Lodge ${n}`);
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.getByRole('link', { name: `Braunstone Lodge ${n} (demo)` }).click();
      await page.getByRole('heading', { name: new RegExp(`Braunstone Lodge ${n}`) }).waitFor();
      await assertAccessible(page, `a home's page ${how}`);
      await page.getByLabel('Registered beds').fill('lots');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByText('There is a problem').waitFor();
      assert.match(await page.title(), /^Error: /);
      await assertAccessible(page, `a home's page with an error ${how}`);
      await page.getByLabel('Registered beds').fill('30');
      await page.getByLabel('Residential dementia', { exact: true }).check();
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByText(`Care home 1-91000002${n} was saved.`).waitFor();
      const row = page.locator(`#home-list tr[data-home="1-91000002${n}"]`);
      assert.match(await row.innerText(), /30[\s\S]*Residential, Residential dementia/);
      await assertAccessible(page, `register after an edit ${how}`);

      // Retire: a reason is needed.
      await row.getByRole('link').click();
      await page.getByRole('button', { name: /^Retire / }).click();
      await page.getByText('There is a problem').waitFor();
      await assertAccessible(page, `retiring without a reason ${how}`);
      await page.getByLabel('Why is it leaving the register?').fill('Closed in March 2027');
      await page.getByRole('button', { name: /^Retire / }).click();
      await page.getByText(`Care home 1-91000002${n} was retired.`).waitFor();
      assert.match(await page.locator(`#home-list tr[data-home="1-91000002${n}"]`).innerText(), /Retired/);
      await assertAccessible(page, `register after retiring ${how}`);

      // What needs attention: the imported home that has never reported, not the retired one.
      await page.getByRole('link', { name: 'What needs attention' }).click();
      const attention = page.locator('#homes-needing-attention');
      assert.match(await attention.innerText(), new RegExp(`Quorn Meadows ${n} \\(demo\\)[\\s\\S]*Never reported`));
      assert.equal(await attention.locator(`tr[data-home="1-91000002${n}"]`).count(), 0);
      await assertAccessible(page, `home page with homes needing attention ${how}`);
    } finally {
      await context.close();
    }
  });
}

test('withdrawing a person ends their session, and the audit page says who withdrew them', async () => {
  const person = await signedIn(cfg.toRevoke, '/api/v1/me');
  const admin = await signedIn('demo-system-admin', '/admin/people');
  try {
    const page = admin.page;
    // The staff provider's mapping: rule by rule, as configured.
    const mapping = page.locator('#role-mapping tbody tr');
    assert.equal(await mapping.count(), 3);
    assert.match(await mapping.first().innerText(), /PatientFlow\.DischargeCoordinator[\s\S]*Discharge coordinator[\s\S]*RWE/);
    await assertAccessible(page, 'people page');
    const row = page.locator(`#people tr[data-person="${cfg.toRevoke}"]`);
    await row.getByRole('button', { name: /Withdraw/ }).click();
    await page.getByText(`${cfg.toRevoke}'s access was withdrawn`).waitFor();
    assert.match(await page.locator(`#people tr[data-person="${cfg.toRevoke}"]`).innerText(), /Withdrawn/);
    await assertAccessible(page, 'people page after withdrawing');
    // The withdrawn person's next request is refused.
    const answer = await person.page.goto(`${cfg.identity}/api/v1/me`);
    assert.equal(answer.status(), 401);

    // Who did it, from the audit page.
    await page.getByRole('link', { name: 'Audit trail' }).click();
    await assertAccessible(page, 'audit page');
    // The last day before the first: refused on its field.
    await page.getByLabel('From (date)').fill('2026-03-02');
    await page.getByLabel('To (date, included)').fill('2026-03-01');
    await page.getByRole('button', { name: 'Search the audit trail' }).click();
    await page.getByText('There is a problem').waitFor();
    await assertAccessible(page, 'audit page with a refused date');
    await page.getByLabel('From (date)').fill('');
    await page.getByLabel('To (date, included)').fill('');
    // An NHS number: the trail never holds one, so the page says what to search by instead.
    await page.getByLabel('What was acted on').fill('943 476 5919');
    await page.getByRole('button', { name: 'Search the audit trail' }).click();
    await page.getByText('There is a problem').waitFor();
    assert.match(await page.locator('.nhsuk-error-summary').innerText(), /never holds NHS numbers/);
    assert.equal(await page.locator('#results').count(), 0, 'no results are shown for an NHS number');
    await assertAccessible(page, 'audit page with an NHS number refused');
    await page.getByLabel('Action', { exact: true }).fill('access.revoked');
    await page.getByLabel('What was acted on').fill(`person/${cfg.toRevoke}`);
    await page.getByRole('button', { name: 'Search the audit trail' }).click();
    await page.locator('#results').waitFor();
    const records = page.locator('#audit-records tbody tr');
    assert.ok((await records.count()) >= 1);
    assert.match(await records.first().innerText(), /demo-system-admin/);
    assert.match(await records.first().innerText(), /access\.revoked/);
    await assertAccessible(page, 'audit search results');
  } finally {
    await person.context.close();
    await admin.context.close();
  }
});
