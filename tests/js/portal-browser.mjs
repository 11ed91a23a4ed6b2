// The citizen portal in a real browser: headless Debian chromium driven by playwright-core,
// on a phone-sized viewport.
//
//   node tests/js/portal-browser.mjs <portal-url> <screenshot-dir>
//
// Logs in on the sandbox MitID broker as citizen 0 with level `substantial`, approves the
// pending consent request, revokes the consent, opens "Min log" and logs out; then logs in
// as citizen 1, who holds a power of attorney for citizen 0, and acts on their behalf
// (Fuldmagter: grant, then revoke, "Du handler på vegne af …"). Every page is
// saved as a screenshot (NN-step.png) and checked: axe-core (serious or critical violations
// fail the run) and the portal contract's page rules (lang="da", a title, one <h1>, a
// viewport meta tag). Exit 0 when all is well, 1 on any violation or a broken step; the
// last stdout line is a JSON summary. Waits are bounded. Page text is never printed.

import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const [portalUrl, shotDir] = process.argv.slice(2);
if (!portalUrl || !shotDir) {
  console.error('usage: node tests/js/portal-browser.mjs <portal-url> <screenshot-dir>');
  process.exit(2);
}
mkdirSync(shotDir, { recursive: true });

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const STEP_TIMEOUT_MS = 30_000;
const TOTAL_TIMEOUT_MS = 240_000;
const started = Date.now();
const pages = [];
const violations = [];
let browser;

function summary(ok, error) {
  const s = {
    ok,
    pages: pages.length,
    violations: violations.length,
    screenshots: shotDir,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  if (error) s.error = error;
  return JSON.stringify(s);
}

// The whole run is bounded, whatever hangs.
const watchdog = setTimeout(() => {
  console.error(`portal-browser: gave up after ${TOTAL_TIMEOUT_MS / 1000} s`);
  console.log(summary(false, 'timeout'));
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

// Where a failing step happened: the URL's path (never a query: it may carry codes) and the
// page's <h1>.
async function where(page) {
  let path = '?';
  try {
    const u = new URL(page.url());
    path = u.protocol.startsWith('http') ? `${u.origin}${u.pathname}` : `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    // about:blank and the like
  }
  const h1 = await page.locator('h1').first().textContent({ timeout: 1000 }).catch(() => null);
  return `${path} (h1: ${JSON.stringify(h1?.trim() ?? null)})`;
}

// Screenshot and checks of the page now shown.
async function visit(page, name) {
  await page.waitForLoadState('load');
  const file = `${String(pages.length + 1).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: join(shotDir, file), fullPage: true });
  const facts = await page.evaluate(() => ({
    lang: document.documentElement.getAttribute('lang'),
    title: document.title.trim(),
    h1: document.querySelectorAll('h1').length,
    viewport: !!document.querySelector('meta[name="viewport"]'),
  }));
  const found = [];
  if (facts.lang !== 'da') found.push({ id: 'sammen-html-lang-da', impact: 'serious', targets: [`html[lang=${facts.lang}]`] });
  if (!facts.title) found.push({ id: 'sammen-title', impact: 'serious', targets: ['title'] });
  if (facts.h1 !== 1) found.push({ id: 'sammen-one-h1', impact: 'serious', targets: [`${facts.h1} h1 elements`] });
  if (!facts.viewport) found.push({ id: 'sammen-viewport-meta', impact: 'serious', targets: ['meta[name=viewport]'] });

  await page.evaluate(axeSource);
  const result = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      found.push({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')) });
    }
  }
  const u = new URL(page.url());
  pages.push({ name, path: u.pathname, screenshot: file, violations: found.length });
  for (const v of found) {
    violations.push({ page: name, ...v });
    console.error(`violation on ${name} (${u.pathname}): ${v.id} [${v.impact}] ${v.targets.join(', ')}`);
  }
}

// A link or a button with this accessible name (the contract allows either for some).
function control(page, name) {
  return page.getByRole('link', { name, exact: true }).or(page.getByRole('button', { name, exact: true }));
}

async function expectHeading(page, name, level) {
  const heading = page.getByRole('heading', { name, exact: true, ...(level ? { level } : {}) });
  await heading.first().waitFor({ state: 'visible' });
}

async function expectText(page, text) {
  await page.getByText(text).first().waitFor({ state: 'visible' });
}

// Clicks and waits for the next page (every action here is a link or a form submit).
async function go(page, locator) {
  await Promise.all([page.waitForEvent('load'), locator.click()]);
}

// The portal's front page for a visitor: a way to log in, no way to log out.
async function loggedOut(page) {
  await control(page, 'Log ind med MitID').first().waitFor();
  if (await page.getByRole('button', { name: 'Log ud', exact: true }).count()) {
    throw new Error('the page still offers "Log ud"');
  }
}

async function hrefs(page, name) {
  return page.getByRole('link', { name, exact: true }).evaluateAll((links) => links.map((a) => a.href));
}

async function run() {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    locale: 'da-DK',
    ignoreHTTPSErrors: true, // the demo's dev CA
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  let step = 'start';
  try {
    step = 'open the portal';
    await page.goto(portalUrl);
    await loggedOut(page);
    await visit(page, 'logged-out');

    step = 'log in on the sandbox MitID broker';
    await go(page, control(page, 'Log ind med MitID').first());
    await page.locator('select[name="citizen"]').waitFor();
    await visit(page, 'mitid-login');
    await page.locator('select[name="citizen"]').selectOption('0');
    await page.locator('input[name="loa"][value="substantial"]').check();
    await go(page, page.getByRole('button', { name: 'Log ind', exact: true }));

    step = 'the overview with the pending request';
    await expectHeading(page, 'Dine samtykker', 1);
    await expectHeading(page, 'Venter på dit svar');
    const consentsBefore = new Set(await hrefs(page, 'Se samtykket'));
    await visit(page, 'overview-pending');

    step = 'open the pending request';
    await go(page, page.getByRole('link', { name: 'Se anmodningen', exact: true }).first());
    await page.getByRole('button', { name: 'Godkend', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Afvis', exact: true }).waitFor();
    await visit(page, 'request');

    step = 'approve the request';
    await go(page, page.getByRole('button', { name: 'Godkend', exact: true }));
    await expectText(page, 'Du har givet samtykke');
    await page.getByRole('link', { name: 'Tilbage til oversigten', exact: true }).waitFor();
    await visit(page, 'approved');

    step = 'open the receipt';
    await go(page, page.getByRole('link', { name: 'Se kvittering', exact: true }).first());
    await visit(page, 'receipt');

    step = 'back to the overview';
    await go(page, page.getByRole('navigation').getByRole('link', { name: 'Mine samtykker', exact: true }));
    await expectHeading(page, 'Dine samtykker', 1);
    const consentsAfter = await hrefs(page, 'Se samtykket');
    const fresh = consentsAfter.filter((h) => !consentsBefore.has(h));
    if (fresh.length !== 1) {
      throw new Error(`expected exactly one new "Se samtykket" link after approving, found ${fresh.length}`);
    }
    await visit(page, 'overview-active');

    step = 'open the new consent';
    await go(page, page.locator(`a[href="${new URL(fresh[0]).pathname}${new URL(fresh[0]).search}"]`).first());
    await visit(page, 'consent');

    step = 'revoke it';
    await go(page, page.getByRole('button', { name: 'Tilbagekald samtykket', exact: true }));
    await page.getByRole('button', { name: 'Ja, tilbagekald', exact: true }).waitFor();
    await visit(page, 'revoke-confirm');
    await go(page, page.getByRole('button', { name: 'Ja, tilbagekald', exact: true }));
    await expectText(page, 'Samtykket er tilbagekaldt');
    await visit(page, 'revoked');

    step = 'the overview no longer lists the consent as active';
    await go(page, page.getByRole('navigation').getByRole('link', { name: 'Mine samtykker', exact: true }));
    await expectHeading(page, 'Dine samtykker', 1);
    const stillActive = (await hrefs(page, 'Se samtykket')).includes(fresh[0]);
    // A revoked consent may still be listed (under revoked), but it must not offer revoking again.
    if (stillActive) {
      await go(page, page.locator(`a[href="${new URL(fresh[0]).pathname}${new URL(fresh[0]).search}"]`).first());
      if (await page.getByRole('button', { name: 'Tilbagekald samtykket', exact: true }).count()) {
        throw new Error('the revoked consent still offers "Tilbagekald samtykket"');
      }
      await go(page, page.getByRole('navigation').getByRole('link', { name: 'Mine samtykker', exact: true }));
    }
    await visit(page, 'overview-after-revoke');

    step = 'Min sag';
    await go(page, page.getByRole('navigation').getByRole('link', { name: 'Min sag', exact: true }));
    if (!(await page.getByText('Fra: Jobcentret').count())) {
      throw new Error('Min sag does not show the job centre section');
    }
    await visit(page, 'min-sag');

    step = 'Beskeder';
    await go(page, page.getByRole('navigation').getByRole('link', { name: 'Beskeder', exact: true }));
    await page.getByLabel('Ja, send mig en besked hver gang').check();
    await go(page, page.getByRole('button', { name: 'Gem mit valg', exact: true }));
    if (!(await page.getByText('Dit valg er gemt.').count())) throw new Error('the choice was not saved');
    await visit(page, 'notifications');

    step = 'Min log';
    await go(page, page.getByRole('navigation').getByRole('link', { name: 'Min log', exact: true }));
    await visit(page, 'min-log');
    // The filter, by keyboard-reachable controls, then how to check a download.
    step = 'Min log filtered';
    await page.getByLabel('Hvad', { exact: true }).selectOption('consents');
    await go(page, page.getByRole('button', { name: 'Vis', exact: true }));
    if (!(await page.getByText('Du tilbagekaldte dit samtykke').count())) {
      throw new Error('the filtered Min log does not show the revocation');
    }
    await visit(page, 'min-log-consents');
    step = 'Min log verify';
    await go(page, page.getByRole('link', { name: 'Sådan tjekker du filen', exact: true }));
    await visit(page, 'min-log-verify');
    // Min log and Min sag at the narrowest phone and on a desktop.
    for (const width of [320, 1280]) {
      for (const [path, name] of [['/log', 'min-log'], ['/min-sag', 'min-sag']]) {
        step = `${name} at ${width} px`;
        await page.setViewportSize({ width, height: 900 });
        await page.goto(new URL(path, page.url()).href);
        await visit(page, `${name}-${width}`);
        const wide = await page.evaluate((w) => document.documentElement.scrollWidth > w + 1, width);
        if (wide) throw new Error(`${name} scrolls sideways at ${width} px`);
      }
    }
    await page.setViewportSize({ width: 390, height: 844 });

    step = 'log out';
    await go(page, page.getByRole('navigation').getByRole('button', { name: 'Log ud', exact: true }));
    await loggedOut(page);
    await visit(page, 'logged-out-again');
    await page.goto(portalUrl);
    await loggedOut(page);

    // Acting for someone else: citizen 1 holds a power of attorney for citizen 0 in the
    // sandbox's registry.
    step = 'log in as the holder of a power of attorney';
    await go(page, control(page, 'Log ind med MitID').first());
    await page.locator('select[name="citizen"]').waitFor();
    await page.locator('select[name="citizen"]').selectOption('1');
    await page.locator('input[name="loa"][value="substantial"]').check();
    await go(page, page.getByRole('button', { name: 'Log ind', exact: true }));
    await expectHeading(page, 'Dine samtykker', 1);

    step = 'Fuldmagter';
    await go(page, page.getByRole('navigation').getByRole('link', { name: 'Fuldmagter', exact: true }));
    await expectHeading(page, 'Handl på vegne af en anden', 1);
    await visit(page, 'fuldmagter');
    // The sandbox's power of attorney number 1 (for citizen 0, see sandbox/src/fuldmagt.rs).
    const actFor = page.locator('a[href="/fuldmagter/0195e8d0-0000-7000-8000-000000000001"]').first();
    await go(page, actFor);
    await expectText(page, 'Du handler på vegne af');
    await visit(page, 'on-behalf-overview');
    const onBehalf = new URL(page.url()).pathname;

    step = 'grant on behalf';
    await go(page, page.getByRole('link', { name: /^Giv samtykke på vegne af / }).first());
    await visit(page, 'on-behalf-grant');
    await page.locator('input[name="category"]').first().check();
    await go(page, page.getByRole('button', { name: /^Giv samtykke på vegne af / }));
    await expectText(page, 'Du har givet samtykke');
    await visit(page, 'on-behalf-granted');

    step = 'revoke on behalf';
    await page.goto(new URL(onBehalf, page.url()).href);
    await go(page, page.getByRole('link', { name: 'Tilbagekald samtykket', exact: true }).first());
    await page.getByRole('button', { name: 'Ja, tilbagekald', exact: true }).waitFor();
    await visit(page, 'on-behalf-revoke-confirm');
    await go(page, page.getByRole('button', { name: 'Ja, tilbagekald', exact: true }));
    await expectText(page, 'Samtykket er tilbagekaldt');
    await visit(page, 'on-behalf-revoked');

    // The pages of acting for someone else at the narrowest phone and on a desktop.
    for (const width of [320, 1280]) {
      for (const [path, name] of [['/fuldmagter', 'fuldmagter'], [onBehalf, 'on-behalf']]) {
        step = `${name} at ${width} px`;
        await page.setViewportSize({ width, height: 900 });
        await page.goto(new URL(path, page.url()).href);
        await visit(page, `${name}-${width}`);
        const wide = await page.evaluate((w) => document.documentElement.scrollWidth > w + 1, width);
        if (wide) throw new Error(`${name} scrolls sideways at ${width} px`);
      }
    }
    await page.setViewportSize({ width: 390, height: 844 });

    step = 'log out the holder';
    await go(page, page.getByRole('navigation').getByRole('button', { name: 'Log ud', exact: true }));
    await loggedOut(page);
  } catch (err) {
    const at = await where(page);
    await page.screenshot({ path: join(shotDir, 'failed.png'), fullPage: true }).catch(() => {});
    const lines = String(err?.message ?? err).split('\n');
    const waiting = lines.find((l) => l.includes('waiting for'));
    const msg = [lines[0], waiting?.trim()].filter(Boolean).join(' ');
    throw new Error(`step "${step}" failed at ${at}: ${msg}`);
  }
}

let exitCode = 0;
try {
  await run();
  if (violations.length) {
    console.error(`${violations.length} serious or critical accessibility violations`);
    exitCode = 1;
  }
  console.log(summary(exitCode === 0));
} catch (err) {
  console.error(`portal-browser: ${err.message}`);
  console.log(summary(false, err.message));
  exitCode = 1;
} finally {
  await browser?.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(exitCode);
