// Drives the cceone web console in Debian's headless Chromium (never a downloaded browser) for
// tests/tests/console.rs. It reports what the pages show as JSON lines on stdout, one object per
// step; the Rust test asserts on them and checks the API side. Where the test must act between
// two steps (start or kill an agent), the script prints {"wait": NAME} and reads one line from
// stdin before going on.
//
// Environment: CONSOLE_LINK (the one-time admin sign-in link), VIEWER_TOKEN (a bearer token bound
// to the ccseone-viewer role), NGINX_YAML (a file to apply), OUT (a directory for screenshots),
// CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const env = (k, d) => process.env[k] ?? d ?? (() => { throw new Error(`${k} is not set`); })();
const LINK = env('CONSOLE_LINK');
const OUT = env('OUT');
const TIMEOUT = 60_000;

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const report = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
async function waitFor(name) {
  report({ wait: name });
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'go') throw new Error(`the test did not say go after ${name}`);
}

const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const problems = [];
function watchProblems(page, who) {
  page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
  // Refusals the test provokes (401 before sign-in, 403, 422) are logged by Chromium as
  // "Failed to load resource"; anything else logged as an error is a problem.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${who}: console error: ${m.text()}`);
  });
  page.on('dialog', (d) => d.accept());
}

try {
  // --- The admin, signed in by the one-time link. -------------------------------------------
  const admin = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 900 } });
  const page = await admin.newPage();
  watchProblems(page, 'admin');
  page.setDefaultTimeout(TIMEOUT);
  const t0 = Date.now();
  await page.goto(LINK);
  await page.locator('[data-stat=running] .stat-value', { hasText: /^[1-9]/ }).waitFor();
  const overviewMs = Date.now() - t0;
  const stat = async (id) => (await page.locator(`[data-stat=${id}] .stat-value`).textContent()).trim();
  report({
    step: 'overview', url: page.url(), ms: overviewMs,
    paintMs: await page.evaluate(() => Math.round(performance.getEntriesByName('cceone:overview')[0].startTime)), clusters: await stat('clusters'),
    running: await stat('running'), vcpus: await stat('vcpus'), nodes: await stat('nodes'),
    user: (await page.locator('#user').textContent()).trim(),
  });

  // The page's headers; the API pass-through refuses requests without the console's header
  // (cross-site forgery) even with the session cookie; the link worked once only.
  const home = await admin.request.get(new URL('/console/', LINK).href);
  const bare = await admin.request.get(new URL('/console/k8s/api/v1/namespaces', LINK).href);
  const again = await admin.request.get(LINK, { maxRedirects: 0 });
  report({ step: 'security', csp: home.headers()['content-security-policy'], withoutHeader: bare.status(), reusedLink: again.headers().location });

  // A marker that survives only as long as the page is not reloaded.
  await page.evaluate(() => { window.__notReloaded = true; });

  // --- Registered clusters. -------------------------------------------------------------------
  await page.locator('nav#nav a[data-section=clusters]').click();
  await page.locator('#cluster-table tbody tr[data-name]').first().waitFor();
  const rows = await page.locator('#cluster-table tbody tr[data-name]').evaluateAll((trs) => trs.map((tr) => ({
    name: tr.dataset.name,
    phase: tr.querySelector('td.phase [data-phase]').dataset.phase,
    vcpus: tr.querySelector('td.vcpus').textContent.trim(),
    protection: tr.querySelector('td.protection').textContent.trim(),
  })));
  report({ step: 'clusters', rows });
  await page.locator('#q').fill('member2');
  const filtered = await page.locator('#cluster-table tbody tr[data-name]').evaluateAll((trs) => trs.map((tr) => tr.dataset.name));
  report({ step: 'filtered', rows: filtered });
  await page.screenshot({ path: `${OUT}/clusters.png`, fullPage: true });

  // --- Apply the seed's nginx example from the YAML box; watch it become 3/3. -----------------
  await page.goto(new URL('/console/#/federation/apply', page.url()).href);
  await page.locator('#yaml').fill(readFileSync(env('NGINX_YAML'), 'utf8'));
  await page.locator('#apply').click();
  await page.locator('#apply-results li').first().waitFor();
  const applied = await page.locator('#apply-results li').allTextContents();
  report({ step: 'applied', results: applied });
  await page.locator('.tabs a', { hasText: 'Workloads' }).click();
  const row = page.locator('#workload-table tr[data-name="Deployment/default/nginx"]');
  await row.locator('td.replicas', { hasText: '3/3' }).waitFor();
  const placement = await row.locator('td.placement .placed').evaluateAll((els) => els.map((e) => ({
    cluster: e.dataset.cluster, replicas: Number(e.dataset.replicas), text: e.textContent,
  })));
  report({
    step: 'workload', replicas: (await row.locator('td.replicas').textContent()).trim(),
    health: (await row.locator('td.health').textContent()).trim(), placement,
  });
  await page.screenshot({ path: `${OUT}/workloads.png`, fullPage: true });
  await page.locator('.tabs a', { hasText: 'Member clusters' }).click();
  await page.locator('#member-table tr[data-name]').first().waitFor();
  const members = await page.locator('#member-table tr[data-name]').evaluateAll((trs) => trs.map((tr) => ({
    name: tr.dataset.name, ready: tr.querySelector('td.ready').textContent.trim(), taints: tr.querySelector('td.taints').textContent.trim(),
  })));
  report({ step: 'members', members });

  // --- A PropagationPolicy from the form: a ConfigMap onto member3 only. ----------------------
  await page.goto(new URL('/console/#/federation/apply', page.url()).href);
  await page.locator('#yaml').fill('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  greeting: hello\n');
  await page.locator('#apply').click();
  await page.locator('#apply-results li', { hasText: 'ConfigMap/demo' }).waitFor();
  await page.goto(new URL('/console/#/new-policy/propagation', page.url()).href);
  await page.locator('#p-name').fill('demo-pp');
  await page.locator('#p-apiversion').fill('v1');
  await page.locator('#p-kind').fill('ConfigMap');
  await page.locator('#p-resource').fill('demo');
  await page.locator('input[data-cluster=member3]').check();
  const previewed = await page.locator('pre.code').textContent();
  await page.locator('form button[type=submit]').click();
  await page.locator('#policy-table tr[data-name="default/demo-pp"]').waitFor();
  await page.locator('.tabs a', { hasText: 'Workloads' }).click();
  const cm = page.locator('#workload-table tr[data-name="ConfigMap/default/demo"]');
  await cm.locator('.placed[data-cluster=member3]').waitFor();
  report({
    step: 'policy-form', previewed,
    placement: await cm.locator('.placed').evaluateAll((els) => els.map((e) => e.dataset.cluster)),
  });

  // --- Delete protection on, then unsubscribe is refused. -------------------------------------
  await page.goto(new URL('/console/#/clusters/member3', page.url()).href);
  await page.locator('#protect').check();
  await page.locator('.alert.ok', { hasText: 'Delete protection on' }).waitFor();
  await page.locator('#unsubscribe').click();
  const refusal = (await page.locator('.alert.error span').first().textContent()).trim();
  report({ step: 'unsubscribe-refused', message: refusal });
  await page.locator('.alert.error button').first().click();

  // --- A proxy kubeconfig for member3, downloaded (the test uses it with kubectl). -----------
  await page.locator('#kc-ttl').selectOption('1');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#kubeconfig').click()]);
  const kubeconfigPath = `${env('SECRETS')}/member3-proxy.kubeconfig`;
  await download.saveAs(kubeconfigPath);
  report({ step: 'kubeconfig', file: download.suggestedFilename(), path: kubeconfigPath });

  // --- Register a cluster from the console; its agent joins and then dies, live. -------------
  await page.goto(new URL('/console/#/register', page.url()).href);
  await page.evaluate(() => { window.__notReloaded = true; });
  await page.locator('#r-name').fill('edge');
  await page.locator('#r-type').selectOption('local');
  await page.locator('#r-region').fill('cn-west-1');
  await page.locator('#r-format').selectOption('env');
  await page.locator('form button[type=submit]').click();
  await page.locator('#agent-output pre').waitFor();
  const phaseOf = () => page.locator('h1 [data-phase]').getAttribute('data-phase');
  report({ step: 'registered', url: page.url(), phase: await phaseOf(), env: await page.locator('#agent-output pre').textContent() });
  await waitFor('agent-started');
  await page.locator('h1 [data-phase=Running]').waitFor({ timeout: 90_000 });
  report({ step: 'joined', phase: await phaseOf(), notReloaded: await page.evaluate(() => window.__notReloaded === true) });
  await page.screenshot({ path: `${OUT}/cluster.png`, fullPage: true });
  await waitFor('agent-killed');
  await page.locator('h1 [data-phase=Disconnected]').waitFor({ timeout: 120_000 });
  report({
    step: 'disconnected', phase: await phaseOf(), notReloaded: await page.evaluate(() => window.__notReloaded === true),
    operations: await page.locator('#operations tbody tr').allTextContents(),
  });

  // Usage, from the meter's records (the link shows once that API answers).
  await page.locator('nav#nav a[data-section=usage]').click();
  await page.locator('#usage-table tr[data-name=member1]').waitFor();
  report({
    step: 'usage', rows: await page.locator('#usage-table tr[data-name]').evaluateAll((trs) => trs.map((tr) => ({
      cluster: tr.dataset.name, cells: [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()),
    }))),
  });
  await page.screenshot({ path: `${OUT}/usage.png`, fullPage: true });

  // --- Fleets: create one, bind it, add two members; its status sums theirs, live. ----------
  await page.locator('nav#nav a[data-section=fleets]').click();
  await page.locator('#f-name').fill('web');
  await page.locator('#f-description').fill('the web tier');
  await page.locator('#f-create').click();
  const fleetRow = page.locator('#fleet-table tr[data-name=web]');
  await fleetRow.waitFor();
  // Bound first, so its members stay federation members throughout.
  await fleetRow.locator('[data-bind=web]').click();
  await fleetRow.locator('td.federation .chip', { hasText: 'default' }).waitFor();
  for (const m of ['member1', 'member2']) {
    await fleetRow.locator('select[data-add=web]').selectOption(m);
    await fleetRow.locator(`[data-member=${m}]`).waitFor();
  }
  await fleetRow.locator('td.nodes', { hasText: '6/6' }).waitFor();
  report({
    step: 'fleet', members: await fleetRow.locator('[data-member]').evaluateAll((els) => els.map((e) => e.dataset.member)),
    nodes: (await fleetRow.locator('td.nodes').textContent()).trim(), vcpus: (await fleetRow.locator('td.vcpus').textContent()).trim(),
    federation: (await fleetRow.locator('td.federation').textContent()).trim(),
  });
  await page.screenshot({ path: `${OUT}/fleets.png`, fullPage: true });

  // --- Permissions: a grant on the fleet applies to both its clusters. ------------------------
  await page.locator('nav#nav a[data-section=permissions]').click();
  await page.locator('#g-target option[value="fleet:web"]').waitFor({ state: 'attached' });
  await page.locator('#g-user').fill('alice');
  await page.locator('#g-role').selectOption('developer');
  await page.locator('#g-target').selectOption('fleet:web');
  await page.locator('#g-namespaces').fill('team-a');
  await page.locator('#g-create').click();
  const grantRow = page.locator('#grant-table tr[data-name]', { hasText: 'alice' });
  await grantRow.locator('td.clusters', { hasText: 'member1,member2' }).waitFor();
  report({
    step: 'grant', name: await grantRow.getAttribute('data-name'), user: (await grantRow.locator('td.user').textContent()).trim(),
    role: (await grantRow.locator('td.role').textContent()).trim(), clusters: (await grantRow.locator('td.clusters').textContent()).trim(),
  });

  // --- The audit log: the admin's fleet creation, found by the filter. -----------------------
  await page.locator('nav#nav a[data-section=audit]').click();
  await page.locator('#a-user').fill('admin');
  await page.locator('#a-verb').selectOption('create');
  await page.locator('#a-resource').fill('fleets');
  await page.locator('#a-refresh').click();
  // The filtered answer replaces the unfiltered one the page opened with.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#audit-table tr[data-user]')];
    return rows.length > 0 && rows.every((tr) => tr.dataset.user === 'admin' && tr.dataset.verb === 'create')
      && rows.some((tr) => tr.querySelector('td.name').textContent.trim() === 'web');
  });
  report({
    step: 'audit', rows: await page.locator('#audit-table tr[data-user]').evaluateAll((trs) => trs.map((tr) => ({
      user: tr.dataset.user, verb: tr.dataset.verb, code: tr.dataset.code, name: tr.querySelector('td.name').textContent.trim(),
      resource: tr.querySelector('td.resource').textContent.trim(),
    }))),
  });
  await page.screenshot({ path: `${OUT}/audit.png`, fullPage: true });

  // The overview once everything above happened (the README's picture).
  await page.locator('nav#nav a[data-section=overview]').click();
  await page.locator('[data-stat=workloads] .stat-value', { hasText: '2' }).waitFor();
  await page.screenshot({ path: `${OUT}/overview.png`, fullPage: true });

  // --- A viewer signs in with a pasted token and is refused a change. ------------------------
  const viewerCtx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 900 } });
  const viewer = await viewerCtx.newPage();
  watchProblems(viewer, 'viewer');
  viewer.setDefaultTimeout(TIMEOUT);
  await viewer.goto(new URL('/console/', LINK).href);
  await viewer.locator('#token').fill(env('VIEWER_TOKEN'));
  await viewer.locator('#signin').click();
  await viewer.locator('[data-stat=clusters] .stat-value').waitFor();
  const viewerUser = (await viewer.locator('#user').textContent()).trim();
  await viewer.goto(new URL('/console/#/clusters/member1', LINK).href);
  await viewer.locator('#protect').click();
  const viewerRefusal = (await viewer.locator('.alert.error span').first().textContent()).trim();
  await viewer.waitForFunction(() => !document.querySelector('#protect').disabled);
  report({ step: 'viewer-refused', user: viewerUser, message: viewerRefusal, checked: await viewer.locator('#protect').isChecked() });
  // The console's own actions run as the viewer too: registering is refused by the API.
  await viewer.goto(new URL('/console/#/register', LINK).href);
  await viewer.locator('#r-name').fill('sneaky');
  await viewer.locator('form button[type=submit]').click();
  report({ step: 'viewer-register-refused', message: (await viewer.locator('.alert.error span').first().textContent()).trim() });
  // The audit log is not the viewer's to read: no link, and the console refuses it.
  const viewerAudit = await viewer.evaluate(async () => (await fetch('/console/audit', { headers: { 'x-cceone-console': '1' } })).status);
  report({ step: 'viewer-audit', linkHidden: await viewer.locator('nav#nav a[data-section=audit]').isHidden(), status: viewerAudit });
  // The session cookie is HttpOnly: the page's script never sees it (nor the token).
  report({ step: 'cookies', visible: await viewer.evaluate(() => document.cookie) });
  await viewer.locator('#signout').click();
  await viewer.locator('#token').waitFor();
  report({ step: 'signed-out' });

  report({ step: 'done', problems });
} catch (e) {
  report({ step: 'failed', error: String(e && e.stack || e), problems });
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit();
}
