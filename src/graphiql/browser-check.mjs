// Browser check of the self-hosted GraphiQL playground (src/graphiql/mod.rs).
//
// Opens the playground page in headless Chromium with a fresh profile, then checks:
// GraphiQL rendered (not "Loading..."), the query editor holds the first configured
// tab's query, the headers pane is open and holds the default headers (when the page
// sets some), and clicking the execute button shows a response containing "data".
//
// When the page has the demo order tabs (the embedded demo), it goes on: runs
// PlaceDemoOrder (its idempotency key filled in by the page), opens FollowOrder
// (the placed order's id carried into its variables), runs it and waits for the
// subscription's events over the page's WebSocket (graphql-transport-ws, the
// Authorization of the headers pane in connection_init) until the courier has been
// seen at two places, then for DELIVERED and `complete`. Then it reloads the page (the
// browser keeps its tabs) and checks PlaceDemoOrder has a new key.
//
// Any console error, uncaught exception, failed request or Content-Security-Policy
// violation fails the check. Exit code 0 means every check passed.
//
// Needs Debian's Chromium and playwright-core, installed outside the repo:
//   apt-get install -y chromium
//   npm install --prefix /tmp/pw playwright-core
// Run it against a running server that serves the page (with its CSP header) at URL:
//   PLAYWRIGHT_DIR=/tmp/pw node src/graphiql/browser-check.mjs http://127.0.0.1:4000/graphql [screenshot.png]
// PLAYWRIGHT_DIR defaults to /tmp/pw, CHROMIUM to /usr/bin/chromium, the screenshot
// path to /tmp/graphiql.png (the followed order: /tmp/graphiql-follow.png). The order
// check needs the embedded demo at its default clock speed and poll interval
// (`cargo run`): it waits at most 60 s for the courier to move.

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

  if (config.tabs.some((tab) => tab.query.includes('mutation PlaceDemoOrder'))) {
    await followADemoOrder(page, editors, expect);
  } else {
    console.log('no demo order tabs on this page: the subscription check is skipped');
  }

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

// The demo order tabs: place an order, follow it over the page's WebSocket, reload.
async function followADemoOrder(page, editors, expect) {
  const frames = { sent: [], received: [], urls: [], closed: 0 };
  page.on('websocket', (socket) => {
    frames.urls.push(socket.url());
    socket.on('framesent', (f) => frames.sent.push(JSON.parse(f.payload)));
    socket.on('framereceived', (f) => frames.received.push({ at: Date.now(), message: JSON.parse(f.payload) }));
    socket.on('close', () => { frames.closed += 1; });
  });
  const openTab = async (title) => {
    await page.click(`.graphiql-tab-button[title="${title}"]`);
    await page.waitForFunction((t) => {
      const wrapper = document.querySelector('.graphiql-query-editor .CodeMirror');
      return wrapper && wrapper.CodeMirror.getValue().includes(t);
    }, title, { timeout: 5000 });
  };
  // The visible tool pane, once its "Variables" button has been pressed.
  const variables = async () => (await editors()).tool;
  const keyOf = (text) => (/"idempotencyKey": "(graphiql-[0-9a-f]{32})"/.exec(text ?? '') ?? [])[1];
  const run = () => page.click('.graphiql-execute-button');

  // Place the order.
  await openTab('PlaceDemoOrder');
  await page.click('.graphiql-editor-tools button:has-text("Variables")');
  const placeVariables = await variables();
  const key = keyOf(placeVariables);
  expect(key, `PlaceDemoOrder's variables hold a fresh key: ${placeVariables}`);
  await run();
  await page.waitForFunction(() => {
    const wrapper = document.querySelector('.result-window .CodeMirror');
    return wrapper && wrapper.CodeMirror.getValue().includes('"placeOrder"');
  }, null, { timeout: 15000 });
  const placed = JSON.parse((await editors()).response);
  const order = placed.data?.placeOrder?.order;
  expect(order?.status === 'PLACED', `placeOrder answered ${JSON.stringify(placed)}`);
  expect(placed.data?.placeOrder?.userErrors?.length === 0, 'placeOrder has no user errors');
  const placedAt = Date.now();
  console.log(`placed order ${order?.id} with key ${key}`);

  // Follow it: the id is carried into FollowOrder's variables.
  await openTab('FollowOrder');
  await page.click('.graphiql-editor-tools button:has-text("Variables")');
  await page.waitForFunction((id) => [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
    .some((e) => e.CodeMirror.getValue().includes(`"id": "${id}"`)), order?.id, { timeout: 5000 })
    .catch(() => expect(false, 'the order id was not carried into FollowOrder'));
  await run();
  const events = () => frames.received
    .filter((f) => f.message.type === 'next')
    .map((f) => ({ at: f.at, order: f.message.payload?.data?.orderUpdated }));
  const places = () => new Set(events()
    .map((e) => e.order?.tracking?.courier?.location)
    .filter(Boolean)
    .map((l) => `${l.lat},${l.lng}`));
  const deadline = Date.now() + 60000;
  while (places().size < 2 && Date.now() < deadline) await page.waitForTimeout(200);
  const movedAfter = (Date.now() - placedAt) / 1000;
  expect(places().size >= 2, `the courier was seen at ${places().size} place(s) in 60 s`);
  console.log(`websocket: ${frames.urls.join(', ')}`);
  const init = frames.sent.find((m) => m.type === 'connection_init');
  expect(/^Bearer /.test(init?.payload?.Authorization ?? ''), 'connection_init carries the Authorization');
  console.log(`courier seen at 2 places ${movedAfter.toFixed(1)} s after placing`);

  // It ends: DELIVERED, then complete, and the socket closes.
  while (!frames.received.some((f) => f.message.type === 'complete') && Date.now() < deadline) {
    await page.waitForTimeout(200);
  }
  const all = events();
  for (const e of all) {
    const t = e.order?.tracking;
    console.log(`  +${((e.at - placedAt) / 1000).toFixed(1)} s ${e.order?.status} eta ${t?.etaMinutes} ` +
      `courier ${t?.courier ? `${t.courier.location.lat},${t.courier.location.lng}` : '-'}`);
  }
  expect(all.length >= 2, `${all.length} subscription events`);
  expect(all.at(-1)?.order?.status === 'DELIVERED', 'the last event is DELIVERED');
  expect(frames.received.some((f) => f.message.type === 'complete'), 'the subscription completed');
  await page.waitForFunction(() => {
    const wrapper = document.querySelector('.result-window .CodeMirror');
    return wrapper && wrapper.CodeMirror.getValue().includes('"DELIVERED"');
  }, null, { timeout: 5000 }).catch(() => expect(false, 'the response pane does not show DELIVERED'));
  console.log(`${all.length} events, then complete; sockets closed: ${frames.closed}`);
  const followShot = screenshot.replace(/(\.png)?$/, '-follow.png');
  await page.screenshot({ path: followShot });
  console.log(`screenshot: ${followShot}`);

  // A reload keeps the browser's tabs, with a new key.
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 15000 });
  await openTab('PlaceDemoOrder');
  await page.click('.graphiql-editor-tools button:has-text("Variables")');
  const again = keyOf(await variables());
  expect(again && again !== key, `after a reload the key is ${again}, before ${key}`);
  console.log(`after a reload: key ${again}`);
}
