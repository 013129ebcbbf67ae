// check.mjs drives the Temporal Web UI in headless Chromium while a rotation
// waits out its grace period, as an operator would: the workflow list and
// its search attributes, the input, memo, summaries and status query decoded
// through the codec server, the same payloads encrypted without the codec
// endpoint, `proceed` sent from the UI, then the result, the signal event
// and the Notify child workflow. It is run by webui_test.go (`make webui`),
// which starts everything and passes the details in WEBUI_* variables.
//
// Everything the UI decoded, and the text of every page it showed, is
// written to WEBUI_SEEN for the Go test to search for secrets: this script
// never sees a secret, and prints none.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through webui_test.go (make webui)`);
  return v;
};
const ui = env('WEBUI_URL');
const workflowId = env('WEBUI_WORKFLOW_ID');
const account = env('WEBUI_ACCOUNT');
const user = env('WEBUI_USER');
const oldKeyId = env('WEBUI_OLD_KEY_ID');
const newKeyId = env('WEBUI_NEW_KEY_ID');
const description = env('WEBUI_DESCRIPTION');
const seenPath = env('WEBUI_SEEN');
const shots = process.env.WEBUI_SCREENSHOTS || '';

const seen = []; // page texts and decoded payloads, for the secret check
const listPath = (query) => `/namespaces/default/workflows?query=${encodeURIComponent(query)}`;

function step(msg) {
  console.log(`webui: ${msg}`);
}

function fail(msg) {
  throw new Error(msg);
}

// poll retries fn until it returns a truthy value or the timeout passes;
// what is the failure message, or a function that makes it.
async function poll(what, fn, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const msg = typeof what === 'function' ? what() : what;
      fail(`${msg}${last ? ` (${last.message.split('\n')[0]})` : ''}`);
    }
    await sleep(250);
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// textOf waits until the locator's text holds every one of want, and
// returns it.
async function textOf(locator, what, ...want) {
  let text = '';
  const missing = () => want.filter((w) => !text.includes(w));
  await poll(() => `${what}: missing ${JSON.stringify(missing())} in ${JSON.stringify(text.slice(0, 3000))}`, async () => {
    text = await locator.innerText({ timeout: 2000 });
    return want.every((w) => text.includes(w));
  });
  seen.push(text);
  return text;
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

// panel returns the "Input" or "Result" box of a workflow's history page.
function panel(page, title) {
  return page.getByTestId('input-and-result').locator(':scope > div')
    .filter({ has: page.getByRole('heading', { name: title, exact: true }) });
}

// summary is the workflow's summary on the User Metadata tab: the UI
// renders it in a frame.
function summary(page) {
  return page.frameLocator('iframe[title=output]').first().locator('body');
}

// openWorkflow opens the latest run of a workflow on its History tab.
async function openWorkflow(page, id) {
  await page.goto(`${ui}/namespaces/default/workflows/${encodeURIComponent(id)}`);
  await page.waitForURL(/\/history$/);
}

async function openTab(page, name) {
  await page.getByRole('tab', { name, exact: false }).first().click();
}

const browser = await chromium.launch({
  executablePath: env('WEBUI_CHROMIUM'),
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1100 } });
  const page = await context.newPage();
  const decodes = [];
  page.on('response', async (r) => {
    if (!r.url().endsWith('/decode') || r.request().method() !== 'POST') return;
    decodes.push(r.status());
    try {
      for (const p of (await r.json()).payloads ?? []) seen.push(Buffer.from(p.data ?? '', 'base64').toString('utf8'));
    } catch {
      // a preflight or an error body: counted above, nothing to read
    }
  });

  // 1. The workflow list: the rotation, found by its search attributes.
  step('workflow list, filtered by the search attributes');
  await page.goto(ui + listPath(`KeyrotorAccount = "${account}" AND KeyrotorUser = "${user}" AND KeyrotorPhase = "grace"`));
  await textOf(page.locator('main'), 'the list filtered on KeyrotorAccount, KeyrotorUser and KeyrotorPhase', workflowId, 'Running', 'RotateAccessKey');
  await shot(page, '01-list');

  // 2. The rotation's page: input decoded, summaries decoded.
  step('workflow page: input and summaries decoded through the codec server');
  await openWorkflow(page, workflowId);
  await textOf(panel(page, 'Input'), 'the input, decoded', `"account": "${account}"`, `"user": "${user}"`);
  const history = await textOf(page.locator('main'), 'the event history with its decoded summaries',
    `create a key for ${user}`, 'grace period', 'push to github acme/api');
  if (history.includes('YmluYXJ5L2VuY3J5cHRlZA')) fail('an encrypted payload is shown although the codec endpoint is set');
  await shot(page, '02-history');

  // The key's creation: its ID, and the secret only sealed.
  step('the CreateAccessKey result: key ID and sealed secret');
  await page.getByText(`{"key":{"id":"${newKeyId}"`).first().click();
  const created = await textOf(page.locator('main'), 'the CreateAccessKey result, expanded', newKeyId, '"sealedSecret"');
  if (/"secret(AccessKey)?"\s*:/i.test(created)) fail('the CreateAccessKey result shows a field named secret');
  await shot(page, '03-created');

  step('search attributes and memo');
  await openTab(page, 'Search Attributes');
  await textOf(page.locator('main'), 'the Search Attributes tab',
    `"KeyrotorAccount": "${account}"`, `"KeyrotorUser": "${user}"`, '"KeyrotorPhase": "grace"');
  await openTab(page, 'Memo');
  await textOf(page.locator('main'), 'the Memo tab, decoded', description);
  await openTab(page, 'User Metadata');
  await textOf(summary(page), 'the summary on the User Metadata tab', `rotate the access key of IAM user ${user} in account ${account}`);
  await shot(page, '04-metadata');

  // 3. The status query, run from the UI.
  step('the status query');
  await openWorkflow(page, workflowId);
  await openTab(page, 'Queries');
  await poll('the Queries tab offers the status query', async () =>
    (await page.locator('main #query-select').first().inputValue({ timeout: 2000 })) === 'status');
  await page.getByRole('button', { name: 'Run Query' }).click();
  const status = await textOf(page.locator('main'), 'the status query result, decoded',
    '"phase": "grace"', `"oldKeyId": "${oldKeyId}"`, `"newKeyId": "${newKeyId}"`, '"waiting": "grace period"', '"state": "confirmed"');
  if (/secret/i.test(status)) fail('the status query result mentions a secret');
  await shot(page, '05-query');

  // 4. Without the codec endpoint, payloads show as encrypted.
  step('without the codec endpoint: encrypted payloads');
  const bare = await context.newPage();
  await bare.route('**/api/v1/settings*', async (route) => {
    const resp = await route.fetch();
    const settings = await resp.json();
    settings.Codec = { ...settings.Codec, Endpoint: '' };
    await route.fulfill({ response: resp, json: settings });
  });
  let bareDecodes = 0;
  bare.on('request', (r) => {
    if (r.url().endsWith('/decode')) bareDecodes++;
  });
  await openWorkflow(bare, workflowId);
  const encrypted = await textOf(panel(bare, 'Input'), 'the input without the codec endpoint',
    '"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="', '"encryption-key-id"');
  if (encrypted.includes(user)) fail('without the codec endpoint the input still shows the user');
  if (bareDecodes) fail('the UI called a codec server although none is set');
  await shot(bare, '06-encrypted');
  await bare.close();

  // 5. proceed, sent from the UI: the grace period ends.
  step('send the proceed signal from the UI');
  await openWorkflow(page, workflowId);
  await textOf(panel(page, 'Input'), 'the input, decoded', `"user": "${user}"`);
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
  const dialog = page.getByRole('dialog').filter({ hasText: 'Send a Signal' });
  await dialog.waitFor();
  await dialog.locator('#signal-select').click({ force: true });
  const offered = await poll('the signal list', async () => {
    const names = await page.getByRole('option').allInnerTexts();
    return names.includes('proceed') && names;
  });
  for (const name of ['proceed', 'retry', 'revoke', 'rollback']) {
    if (!offered.includes(name)) fail(`the UI does not offer the signal ${name}: ${offered}`);
  }
  await page.getByRole('option', { name: 'proceed', exact: true }).click();
  await dialog.locator('.cm-content, textarea, [contenteditable=true]').first().click();
  await page.keyboard.type('{"reason": "sent from the Web UI check"}');
  await shot(page, '07-signal');
  await dialog.getByRole('button', { name: 'Submit' }).click();
  await dialog.waitFor({ state: 'hidden' });

  // 6. The rotation completes; its result decodes.
  step('the rotation completes: result, signal event');
  await poll('the rotation to complete after proceed', async () => {
    await openWorkflow(page, workflowId);
    for (const end = Date.now() + 5000; Date.now() < end; await sleep(250)) {
      const t = await panel(page, 'Result').innerText({ timeout: 2000 }).catch(() => '');
      if (t.includes('"phase": "done"')) return true;
    }
    return false;
  }, 90000);
  const result = await textOf(panel(page, 'Result'), 'the result, decoded',
    '"phase": "done"', `"oldKeyId": "${oldKeyId}"`, `"newKeyId": "${newKeyId}"`, '"state": "confirmed"');
  if (/secret/i.test(result)) fail('the result mentions a secret');
  await page.getByText('Workflow Execution Signaled').first().click();
  const signal = await textOf(page.locator('main'), 'the signal event, expanded',
    'Signal Name', 'proceed', '"reason": "sent from the Web UI check"');
  // The expanded event: what the UI says about who sent the signal.
  const expanded = signal.slice(signal.lastIndexOf('Workflow Execution Signaled'));
  const identity = /Identity\s+(\S+)/.exec(expanded.slice(0, expanded.indexOf('"reason"')));
  console.log(`webui: the signal event shows ${identity ? `the identity ${identity[1]}` : 'no identity'}`);
  await shot(page, '08-done');

  // 7. The Notify child workflow: listed, summarised, decoded.
  step('the Notify child workflow');
  await page.goto(ui + listPath(`WorkflowType = "Notify" AND ParentWorkflowId = "${workflowId}"`));
  const notifyList = await textOf(page.locator('main'), 'the Notify workflows of the rotation',
    `notify/${workflowId}/`, 'Notify', 'Completed');
  const notifyId = /notify\/\S+\/\d+/.exec(notifyList)[0];
  await openWorkflow(page, notifyId);
  await textOf(panel(page, 'Input'), 'the Notify input, decoded', '"event": "completed"', `"newKeyId": "${newKeyId}"`, `"workflowId": "${workflowId}"`);
  await textOf(panel(page, 'Result'), 'the Notify result, decoded', '"delivered"', 'webhook');
  await textOf(page.locator('main'), 'the Notify page names its parent', 'Parent Workflow', workflowId);
  await openTab(page, 'User Metadata');
  await textOf(summary(page), 'the Notify summary on the User Metadata tab', `notify completed: rotated: 5 targets hold the new key ${newKeyId}`);
  await shot(page, '09-notify');
  await openWorkflow(page, workflowId);
  await openTab(page, 'Relationships');
  await textOf(page.locator('main'), 'the rotation\'s Relationships tab', 'Notify', notifyId);

  const failed = decodes.filter((s) => s !== 200);
  if (!decodes.length) fail('the UI never called the codec server');
  if (failed.length) fail(`the codec server refused ${failed.length} of ${decodes.length} decode calls: ${failed}`);
  step(`ok (${decodes.length} decode calls)`);
} finally {
  writeFileSync(seenPath, JSON.stringify(seen));
  await browser.close();
}
