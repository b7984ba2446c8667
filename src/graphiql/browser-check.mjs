// Browser check of the self-hosted GraphiQL playground (src/graphiql/mod.rs).
//
// Opens the playground page in headless Chromium with a fresh profile, then checks:
// GraphiQL rendered (not "Loading..."), the query editor holds the first configured
// tab's query, the headers pane is open and holds the default headers (when the page
// sets some), and clicking the execute button shows a response containing "data".
// Any console error, uncaught exception, failed request or Content-Security-Policy
// violation fails the check. Exit code 0 means every check passed.
//
// Needs Debian's Chromium and playwright-core, installed outside the repo:
//   apt-get install -y chromium
//   npm install --prefix /tmp/pw playwright-core
// Run it against a running server that serves the page (with its CSP header) at URL:
//   PLAYWRIGHT_DIR=/tmp/pw node src/graphiql/browser-check.mjs http://127.0.0.1:4000/graphql [screenshot.png]
// PLAYWRIGHT_DIR defaults to /tmp/pw, CHROMIUM to /usr/bin/chromium, the screenshot
// path to /tmp/graphiql.png.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, screenshot = '/tmp/graphiql.png'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node browser-check.mjs PAGE_URL [SCREENSHOT.png]');
  process.exit(2);
}
const require = createRequire(join(process.env.PLAYWRIGHT_DIR ?? '/tmp/pw', 'noop.js'));
const { chromium } = require('playwright-core');

const problems = [];
const profile = mkdtempSync(join(tmpdir(), 'graphiql-check-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (msg) => {
    if (msg.type() === 'error' || /Content.Security.Policy/i.test(msg.text())) {
      problems.push(`console ${msg.type()}: ${msg.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) =>
    problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  // Runs before the page's own scripts; CDP-injected, so the page's CSP does not block it.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`));
  });

  const response = await page.goto(url, { waitUntil: 'load' });
  console.log(`page: HTTP ${response.status()}, CSP: ${response.headers()['content-security-policy'] ?? '(none)'}`);
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 15000 });

  const config = JSON.parse(await page.textContent('#graphiql-config'));
  const editors = () => page.evaluate(() => {
    const value = (selector) => {
      const wrapper = [...document.querySelectorAll(selector)].find((e) => e.offsetParent !== null);
      return wrapper ? wrapper.CodeMirror.getValue() : null;
    };
    return {
      loading: document.body.innerText.includes('Loading'),
      query: value('.graphiql-query-editor .CodeMirror'),
      tool: value('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror'),
      tools: [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
        .map((e) => e.CodeMirror.getValue()),
      response: value('.result-window .CodeMirror'),
    };
  });

  const before = await editors();
  const expect = (ok, what) => { if (!ok) problems.push(`check failed: ${what}`); };
  expect(!before.loading, 'the page still says "Loading"');
  const firstQuery = config.tabs[0]?.query;
  if (firstQuery !== undefined) expect(before.query === firstQuery, `query editor holds ${JSON.stringify(before.query)}`);
  if (config.defaultHeaders) {
    expect(before.tool === (config.tabs[0]?.headers ?? config.defaultHeaders),
      `visible headers pane holds ${JSON.stringify(before.tool)}`);
  }
  const firstVariables = config.tabs[0]?.variables;
  if (firstVariables) {
    expect(before.tools.includes(firstVariables), `no editor holds the variables ${firstVariables}`);
  }
  console.log(`query editor: ${JSON.stringify(before.query)}`);
  console.log(`visible tool pane: ${JSON.stringify(before.tool)}`);

  await page.click('.graphiql-execute-button');
  await page.waitForFunction(() => {
    const wrapper = document.querySelector('.result-window .CodeMirror');
    return wrapper && wrapper.CodeMirror.getValue().includes('"data"');
  }, null, { timeout: 15000 });
  const after = await editors();
  console.log(`response: ${after.response}`);

  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);
  for (const violation of await page.evaluate(() => window.__cspViolations)) {
    problems.push(`CSP violation: ${violation}`);
  }
} catch (error) {
  problems.push(`error: ${error.message}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

if (problems.length > 0) {
  console.error(`FAILED (${problems.length}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('OK: GraphiQL rendered, ran the query and logged no errors or CSP violations');
