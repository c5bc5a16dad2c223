// desaster-web in real Chromium (Debian's), driven by playwright-core, against a real scheduler,
// worker and web daemon: what a user does on each page, checked through the scheduler itself.
// Screenshots of every page go to $DESASTER_SCREENSHOTS (default build/web-screenshots).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { chromium } = await import(path.join(root, 'web/node_modules/playwright-core/index.mjs'));
const bin = (name, env) => process.env[env] || path.join(root, 'build', name);
const shots = process.env.DESASTER_SCREENSHOTS || path.join(root, 'build', 'web-screenshots');
fs.mkdirSync(shots, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'desaster-browser-'));
const children = [];

function start(name, cmd, args) {
  const log = path.join(tmp, `${name}.log`);
  const fd = fs.openSync(log, 'w');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  children.push(child);
  return { child, log: () => fs.readFileSync(log, 'utf8') };
}

// Polls `fn` until it returns a truthy value (or throws after `timeout` ms).
async function until(fn, what, timeout = 15000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let port;
const cli = (...args) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
// The value after `name` in a map reply as redis-cli prints it (a line per key and value).
const cliField = (name, ...args) => {
  const lines = cli(...args).split('\n');
  const i = lines.indexOf(name);
  return i >= 0 ? lines[i + 1] : undefined;
};

let browser, page;
try {
  const scheduler = start('scheduler', bin('desaster-scheduler', 'DESASTER_SCHEDULER'), ['--port', '0', '--data-dir', path.join(tmp, 'data')]);
  port = Number((await until(() => scheduler.log().match(/Ready to accept connections on [^ ]+:(\d+)/), 'the scheduler'))[1]);
  const worker = start('worker', bin('desaster-worker', 'DESASTER_WORKER'), ['--scheduler', `127.0.0.1:${port}`, '--queues', 'work',
    '--adapters', 'command', '--concurrency', '2', '--heartbeat-ms', '200', '--kill-grace-ms', '500', '--spawn-scheduler', 'false', '--id', 'box-1', '--labels', 'rack-7']);
  await until(() => worker.log().includes('registered as'), 'the worker to register');
  const web = start('web', bin('desaster-web', 'DESASTER_WEB'), ['--scheduler', `127.0.0.1:${port}`, '--listen', '127.0.0.1:0']);
  const url = (await until(() => web.log().match(/serving (http:\/\/[^/ ]+)\//), 'desaster-web'))[1];

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  // (en-US: the thousands separators the checks below expect.)
  page = await browser.newPage({ viewport: { width: 1366, height: 900 }, locale: 'en-US' });
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => d.accept());
  const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  const flash = (text) => page.locator('#flash.ok', { hasText: text }).waitFor();

  // -- A fresh server's empty tables say what would be there and how it gets there.
  await page.goto(`${url}/#/failed`);
  assert.equal(await page.locator('main td.empty').textContent(), 'No failures. A job that raises, exits non-zero, '
    + 'times out or is killed lands here, after its automatic retries.');
  await page.goto(`${url}/#/scheduled`);
  await page.locator('main td.empty').nth(1).waitFor();
  assert.deepEqual(await page.locator('main td.empty').allTextContents(), ['No delayed jobs or pending retries. Jobs '
    + "pushed with a delay (JOB.PUSH ... DELAY ms, resque-scheduler, Sidekiq's perform_in) wait here.",
  'No cron schedules yet: add one below.']);
  await shot('scheduled-empty');

  // -- The dashboard updates without a reload when a resque-shaped Ruby client enqueues.
  await page.goto(`${url}/#/`);
  await page.locator('#stat-enqueued').waitFor();
  assert.equal(await page.textContent('#stat-enqueued'), '0');
  await page.evaluate(() => { window.notReloaded = true; });
  execFileSync('ruby', ['-e', `
    require 'redis'; require 'json'
    r = Redis.new(port: ${port})
    r.sadd?('resque:queues', 'reports')
    40.times do |i|
      klass = i.even? ? 'Report' : 'Mail'
      r.rpush('resque:queue:reports', { class: klass, args: [i, "tenant-#{i % 4}"] }.to_json)
    end`]);
  await page.waitForFunction(() => document.querySelector('#stat-enqueued').textContent === '40');
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the dashboard reloaded');
  // The navigation counts jobs by state; the dashboard, jobs pushed and taken since the start.
  await page.waitForFunction(() => document.querySelector('#nav a[href="#/queues"] .count[data-state="enqueued"]')?.textContent === '40');
  assert.equal(await page.textContent('#nav a[href="#/failed"] .count[data-state="dead"]'), '0');
  await until(() => page.evaluate(async () => {
    const queues = (await (await fetch('/api/overview')).json()).queues;
    const pushed = queues.reduce((n, q) => n + q.pushed, 0), taken = queues.reduce((n, q) => n + q.taken, 0);
    return pushed >= 40 && document.querySelector('#stat-taken').textContent === String(taken)
      && document.querySelector('#stat-taken + .sub').textContent === `${pushed} pushed since start`;
  }), 'the totals since start');
  await page.locator('tr[data-queue="resque:queue:reports"]').waitFor();
  // desaster's own version, next to the Redis version clients see.
  const server = cli('INFO', 'server');
  const version = (name) => server.match(new RegExp(`${name}:(\\S+)`))[1];
  assert.equal(await page.textContent('#node-version'),
    `desaster ${version('desaster_version')} (Redis ${version('redis_version')} compatible)`);
  await shot('dashboard');
  // Dark mode follows the system's setting, live.
  const colours = () => page.evaluate(() => [getComputedStyle(document.documentElement).backgroundColor,
    getComputedStyle(document.querySelector('main th')).backgroundColor, getComputedStyle(document.querySelector('#stat-enqueued')).color]);
  assert.deepEqual(await colours(), ['rgb(247, 249, 252)', 'rgb(238, 242, 247)', 'rgb(26, 32, 44)']);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.locator('#stat-enqueued').waitFor();
  assert.deepEqual(await colours(), ['rgb(15, 23, 42)', 'rgb(39, 52, 73)', 'rgb(226, 232, 240)']);
  await shot('dashboard-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.locator('#stat-enqueued').waitFor();
  assert.deepEqual(await colours(), ['rgb(247, 249, 252)', 'rgb(238, 242, 247)', 'rgb(26, 32, 44)']);
  // Pausing live updates stops them; resuming brings them back.
  await page.click('#live');
  assert.equal(await page.getAttribute('#live', 'aria-pressed'), 'false');
  await page.click('#live');
  cli('RPUSH', 'resque:queue:reports', JSON.stringify({ class: 'Mail', args: [40] }));
  await page.waitForFunction(() => document.querySelector('#stat-enqueued').textContent === '41');

  // -- Create and configure a queue.
  await page.goto(`${url}/#/queues`);
  await page.click('text=Create a queue');
  await page.fill('#q-queue', 'tenants');
  await page.selectOption('#q-discipline', 'sfq');
  await page.click('button:has-text("Create queue")');
  await flash('created tenants');
  await page.locator('tr[data-queue="tenants"]').waitFor();
  assert.equal(cliField('discipline', 'QUEUE.CONFIG', 'tenants'), 'sfq');
  await page.click('tr[data-queue="tenants"] >> text=Configure');
  await page.selectOption('#q-discipline', 'drr');
  await page.fill('#q-params', 'weight.tenant-0=3');
  await page.fill('#q-retry', '2');
  await page.fill('#q-capability', 'gpu');
  await page.click('button:has-text("Save configuration")');
  await flash('configured tenants');
  const config = cli('QUEUE.CONFIG', 'tenants');
  assert.match(config, /^drr$/m);
  assert.match(config, /^weight\.tenant-0\n3$/m);
  assert.match(config, /^gpu$/m);
  await shot('queue-configure');
  await page.goto(`${url}/#/queues`);
  await page.click('tr[data-queue="tenants"] >> text=Pause');
  await flash('paused tenants');
  assert.equal(cliField('paused', 'QUEUE.CONFIG', 'tenants'), '1');
  await shot('queues');

  // -- Search a queue, select everything matching, move it.
  await page.goto(`${url}/#/queues/${encodeURIComponent('resque:queue:reports')}`);
  await page.fill('#f-class', 'Report');
  await page.click('button:has-text("Apply")');
  await page.waitForFunction(() => location.hash.includes('class=Report'));
  await page.locator('.range', { hasText: '1–20 of 20' }).waitFor();
  assert.equal(await page.locator('#jobs tbody tr').count(), 20);
  await page.fill('#f-match', 'tenant-2');
  await page.click('button:has-text("Apply")');
  await page.locator('.range', { hasText: 'of 10' }).waitFor();
  await page.fill('#f-match', '');
  await page.click('button:has-text("Apply")');
  await page.locator('.range', { hasText: 'of 20' }).waitFor();
  await shot('queue-jobs');
  // The filtered view is shareable: a fresh page on the same URL shows the same filter.
  const shared = await browser.newPage();
  await shared.goto(page.url());
  await shared.locator('.range', { hasText: 'of 20' }).waitFor();
  assert.equal(await shared.inputValue('#f-class'), 'Report');
  await shared.close();
  await page.click('#select-all-matching');
  await page.locator('.bulk .count', { hasText: 'all 20 matching jobs selected' }).waitFor();
  await page.fill('#move-to', 'resque:queue:archive');
  await page.click('#bulk-move');
  await flash('moved to resque:queue:archive: 20');
  assert.equal(cli('LLEN', 'resque:queue:archive'), '20');
  assert.equal(cli('LLEN', 'resque:queue:reports'), '21');
  // Selected rows only: reprioritise two Mail jobs.
  await page.goto(`${url}/#/queues/${encodeURIComponent('resque:queue:reports')}`);
  const boxes = page.locator('#jobs tbody .row-select');
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await page.fill('#set-priority', '9');
  await page.click('#bulk-priority');
  await flash('reprioritised: 2');
  assert.equal(cli('QUEUE.JOBS', 'resque:queue:reports', 'PRIORITY', '9', '9', 'LIMIT', '0').split('\n')[1], '2');
  // Existing queues are offered as move targets.
  assert.ok((await page.locator('#queue-keys option').evaluateAll((os) => os.map((o) => o.value))).includes('tenants'));
  // The queue by its short name, its dialect beside it, its key on hover.
  assert.equal(await page.textContent('main h1 code'), 'reports');
  assert.equal(await page.textContent('main h1 .dialect'), 'resque');
  await page.goto(`${url}/#/queues`);
  const reportsLink = page.locator('tr[data-queue="resque:queue:reports"] td:first-child a');
  assert.equal(await reportsLink.textContent(), 'reports');
  assert.equal(await reportsLink.getAttribute('title'), 'resque:queue:reports');
  assert.equal(await page.textContent('tr[data-queue="resque:queue:reports"] .dialect'), 'resque');

  // -- A queue's own page: pause and resume it, push a job by hand, clear it (the confirmation
  // names how many jobs go).
  // (Paused on the queues page above.)
  await page.goto(`${url}/#/queues/tenants`);
  await page.locator('#queue-meta', { hasText: 'paused' }).waitFor();
  await page.click('div.actions button.resume');
  await flash('resumed tenants');
  assert.equal(cliField('paused', 'QUEUE.CONFIG', 'tenants'), '0');
  await page.click('div.actions button.pause');
  await flash('paused tenants');
  assert.equal(cliField('paused', 'QUEUE.CONFIG', 'tenants'), '1');
  await page.click('div.actions button.resume');
  await flash('resumed tenants');
  assert.equal(cliField('paused', 'QUEUE.CONFIG', 'tenants'), '0');
  await page.click('text=Add a job');
  await page.fill('#j-payload', '{"class":"Handmade","args":[7]}');
  await page.fill('#j-priority', '5');
  await page.fill('#j-flow', 'tenant-9');
  await page.click('button:has-text("Push job")');
  const pushed = (await page.locator('#flash.ok', { hasText: /^pushed job / }).textContent()).slice('pushed job '.length);
  assert.equal(cliField('queue', 'JOB.INFO', pushed), 'tenants');
  assert.equal(cliField('priority', 'JOB.INFO', pushed), '5');
  assert.equal(cliField('flow', 'JOB.INFO', pushed), 'tenant-9');
  assert.equal(cliField('payload', 'JOB.INFO', pushed), '{"class":"Handmade","args":[7]}');
  await page.locator(`#jobs tr[data-job="${pushed}"]`).waitFor();
  cli('JOB.PUSH', 'tenants', '{"n":1}');
  cli('JOB.PUSH', 'tenants', '{"n":2}', 'DELAY', '60000');
  await page.reload();
  const confirmations = [];
  page.removeAllListeners('dialog');
  page.on('dialog', (d) => { confirmations.push(d.message()); d.accept(); });
  await page.click('div.actions button.clear');
  await flash('cleared tenants');
  assert.deepEqual(confirmations, ['Delete 3 jobs of tenants?']);
  assert.equal(cliField('ready', 'QUEUE.INFO', 'tenants'), '0');
  assert.equal(cliField('scheduled', 'QUEUE.INFO', 'tenants'), '0');

  // -- Kill a running job from its page.
  const sleeper = cli('JOB.PUSH', 'work', JSON.stringify({ argv: ['sleep', '60'] }));
  await until(() => cliField('state', 'JOB.INFO', sleeper) === 'running', 'the job to run');
  await page.goto(`${url}/#/jobs/${sleeper}`);
  await page.locator('#job-kill').waitFor();
  // It started moments ago (the API's start time, not the epoch's).
  assert.match(await page.textContent('#job-running-for'), /^\d+(\.\d+)? ?(ms|s)$/);
  await shot('job-running');
  await page.click('#job-kill');
  await flash('kill requested');
  await until(() => cli('FAILED.LIST', 'ERROR', 'Killed', 'STATE', 'all', 'LIMIT', '0').split('\n')[1] === '1', 'the kill to be reported');
  // The job keeps its id while it waits for its retry; the killed run is in its history.
  assert.equal(cliField('retry_job', 'FAILED.LIST', 'ERROR', 'Killed'), sleeper);
  await page.reload();  // the same page, drawn again
  await page.locator('#history tbody tr', { hasText: 'Killed' }).waitFor();
  assert.equal(await page.textContent('#history tbody tr td:nth-child(5)'), 'box-1');
  await shot('job-history');
  // (Its retry would run `sleep 60` again and hold the worker's exit at the end.)
  assert.equal(cli('JOB.DELETE', sleeper), '1');

  // -- Attach a queue to the running worker.
  await page.goto(`${url}/#/workers`);
  const row = page.locator('tr[data-worker="box-1"]');
  // Its fields: labels, how busy it is, when it last checked in.
  await row.locator('.chip', { hasText: 'rack-7' }).waitFor();
  assert.match(await row.locator('.busy').textContent(), /^[0-2] \/ 2$/);
  assert.match(await row.locator('.heartbeat').textContent(), /^\d+(\.\d+)? ?(ms|s) ago$/);
  // Attaching a queue that does not exist asks first; declining attaches nothing.
  const asked = [];
  page.removeAllListeners('dialog');
  page.on('dialog', (d) => { asked.push(d.message()); d.dismiss(); });
  await row.locator('.attach-queue').fill('extra');
  await row.locator('button:has-text("Attach")').click();
  await until(() => asked.length === 1, 'the confirmation');
  assert.equal(asked[0], 'There is no queue extra yet. Attach it to box-1 anyway?');
  assert.doesNotMatch(cli('WORKER.LIST'), /extra/);
  page.removeAllListeners('dialog');
  page.on('dialog', (d) => d.accept());
  await row.locator('.attach-queue').fill('extra');
  await row.locator('button:has-text("Attach")').click();
  await flash('attached extra');
  await row.locator('.chip', { hasText: 'extra' }).waitFor();
  const extraJob = cli('JOB.PUSH', 'extra', JSON.stringify({ argv: ['true'] }));
  await until(() => cliField('state', 'JOB.INFO', extraJob) === 'done', 'the worker to run a job of its new queue');
  // Its memory and job counts as its heartbeats report them (the killed sleeper failed).
  await until(async () => Number(cliField('processed', 'WORKER.LIST')) >= 1 && Number(cliField('failed', 'WORKER.LIST')) >= 1
    && (await row.locator('.processed').textContent()) === cliField('processed', 'WORKER.LIST')
    && (await row.locator('.failed').textContent()) === cliField('failed', 'WORKER.LIST'), 'the counts of WORKER.LIST');
  assert.match(await row.locator('.rss').textContent(), /^\d+(\.\d)? MB$/);
  await shot('workers');
  // Quiet from the page, and back.
  await row.locator('button.quiet').click();
  await flash('box-1 quiet');
  assert.equal(cliField('quiet', 'WORKER.LIST'), '1');
  await row.locator('.busy', { hasText: 'quiet' }).waitFor();
  await row.locator('button.unquiet').click();
  await flash('box-1 takes jobs again');
  assert.equal(cliField('quiet', 'WORKER.LIST'), '0');

  // -- Group failures and retry a whole group.
  for (let i = 0; i < 3; i++) cli('JOB.PUSH', 'work', JSON.stringify({ argv: ['false'], retry: false, n: i }));
  const exitFailures = () => Number(cli('FAILED.LIST', 'ERROR', 'ExitStatus', 'STATE', 'all', 'LIMIT', '0').split('\n')[1]);
  await until(() => exitFailures() === 3, 'three failures');
  // The queues page counts each queue's failures, and its jobs pushed and taken since the start.
  await page.goto(`${url}/#/queues`);
  await until(async () => {
    const groups = await page.evaluate(async () => (await (await fetch('/api/failed/groups?by=queue&state=all')).json()).result);
    const work = groups.find((g) => g.group === 'work');
    return work && work.count >= 3 && await page.textContent('tr[data-queue="work"] td.failed') === String(work.count);
  }, "the queue's failures");
  assert.equal(await page.textContent('tr[data-queue="work"] td.pushed'), cliField('pushed', 'QUEUE.INFO', 'work'));
  assert.equal(await page.textContent('tr[data-queue="work"] td.taken'), cliField('taken', 'QUEUE.INFO', 'work'));
  await page.goto(`${url}/#/failed?group=fingerprint`);
  const group = page.locator('tbody tr', { hasText: 'ExitStatus' });
  await group.locator('td.num', { hasText: '3' }).waitFor();
  await shot('failed-groups');
  await group.locator('.retry-group').click();
  await flash('retried 3');
  // Each job ran once more and failed again: still one record per job, its second attempt.
  const secondRuns = () => Number(cli('FAILED.LIST', 'ERROR', 'ExitStatus', 'STATE', 'all', 'ATTEMPT', '2', '2', 'LIMIT', '0').split('\n')[1]);
  await until(() => secondRuns() === 3, 'the retried jobs to fail again');
  assert.equal(exitFailures(), 3);
  await page.goto(`${url}/#/failed?error=ExitStatus`);
  // (The dead view shows 3 too: the new page is the one whose current view is "all".)
  await page.locator('nav.views a.current[data-view="all"]').waitFor();
  await page.locator('.range', { hasText: 'of 3' }).waitFor();
  await shot('failed');
  // A record's earlier runs are on its page.
  await page.locator('tbody tr[data-failure] a').first().click();
  await page.locator('#earlier-runs tbody tr').first().waitFor();
  assert.deepEqual(await page.locator('#earlier-runs tbody tr td:nth-child(1)').allTextContents(), ['1']);
  assert.equal(await page.textContent('#earlier-runs tbody tr td:nth-child(3)'), 'ExitStatus');
  // The views, as Sidekiq has them, with job counts.
  await page.goto(`${url}/#/failed`);
  const counts = Object.fromEntries(cli('FAILED.COUNTS').split('\n').reduce((pairs, x, i, all) => (i % 2 ? pairs : [...pairs, [x, all[i + 1]]]), []));
  assert.equal(await page.textContent('nav.views a[data-view="dead"]'), `Dead (${counts.dead})`);
  assert.equal(await page.textContent('nav.views a[data-view="all"]'), `All (${counts.total})`);
  await until(async () => await page.textContent('#nav .count[data-state="dead"]') === counts.dead
    && await page.textContent('#nav .count[data-state="retrying"]') === counts.retrying, 'the navigation\'s failure counts');
  await page.click('nav.views a[data-view="dead"]');
  await page.locator('nav.views a.current[data-view="dead"]').waitFor();
  const states = await page.locator('tbody tr[data-failure] td:last-child').allTextContents();
  assert.deepEqual([...new Set(states)], ['dead']);
  assert.equal(states.length, Number(counts.dead));
  await page.goto(`${url}/#/failed?error=ExitStatus`);
  // (The dead view shows 3 too: the new page is the one whose current view is "all".)
  await page.locator('nav.views a.current[data-view="all"]').waitFor();
  await page.locator('.range', { hasText: 'of 3' }).waitFor();
  await page.click('#select-all-matching');
  await page.click('#failed-remove');
  await flash('removed: 3');
  assert.equal(exitFailures(), 0);

  // -- A running job's output and progress, live on its page: each line within 2 s.
  const shell = (script, extra = {}) => JSON.stringify({ argv: ['sh', '-c', script], ...extra });
  const talkGo = path.join(tmp, 'talk-go');
  const talker = cli('JOB.PUSH', 'work', shell('for i in 1 2 3; do echo "line $i $(date +%s%3N)"; '
    + `echo "desaster-progress $((i * 30)) step $i"; sleep 0.4; done; while [ ! -e ${talkGo} ]; do sleep 0.05; done`));
  await until(() => cliField('state', 'JOB.INFO', talker) === 'running', 'the talking job to run');
  await page.goto(`${url}/#/jobs/${talker}`);
  await page.locator('#job-output').waitFor({ state: 'attached' });
  for (const n of [1, 2, 3]) {
    // How long after it was printed the line is on the page (the job's clock is this machine's).
    const lag = await (await page.waitForFunction((n) => {
      const m = document.querySelector('#job-output').textContent.match(new RegExp(`line ${n} (\\d+)`));
      return m ? String(Date.now() - Number(m[1])) : null;
    }, n)).jsonValue();
    assert.ok(Number(lag) < 2000, `line ${n} showed ${lag} ms after it was printed`);
  }
  await page.waitForFunction(() => document.querySelector('#job-progress').value === 90);
  assert.equal(await page.textContent('#job-progress-message'), '90 % step 3');
  await shot('job-output');
  fs.writeFileSync(talkGo, '');
  // When it ends, its page shows its life.
  await page.locator('#life tbody tr[data-run="1"] td.outcome', { hasText: 'done' }).waitFor();

  // -- Completed jobs: found by their output, sorted by duration, their life shown, run again.
  const slow = cli('JOB.PUSH', 'work', shell('sleep 0.4; echo slow done'));
  const quick = cli('JOB.PUSH', 'work', shell('echo quick done'));
  // A job that fails its first run and succeeds its second.
  const flag = path.join(tmp, 'second-try');
  const flaky = cli('JOB.PUSH', 'work', shell(`if [ -e ${flag} ]; then echo flaky done; else touch ${flag}; exit 3; fi`));
  await until(() => cli('FAILED.LIST', 'JOB', flaky, 'LIMIT', '0').split('\n')[1] === '1', 'the flaky job to fail once');
  assert.equal(cli('FAILED.RETRY', 'WHERE', 'JOB', flaky), '1');
  const done = (id) => cliField('state', 'JOB.INFO', id) === 'done';
  await until(() => done(slow) && done(quick) && done(flaky), 'the three jobs to succeed');
  const took = (id) => Number(cliField('duration', 'COMPLETED.INFO', id));
  // fmtDuration's text for a run under 10 s.
  const shown = (ms) => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
  assert.ok(took(slow) >= 400, `the slow job took ${took(slow)} ms`);
  // (Their output ends "done" and a newline, in the result's JSON text; other jobs' do not.)
  await page.goto(`${url}/#/completed?match=done%5Cn&sort=duration&order=desc`);
  await page.locator(`tr[data-job="${slow}"]`).waitFor();
  assert.deepEqual(await page.locator('tbody tr[data-job]').evaluateAll((rows) => rows.map((r) => r.dataset.job)), [slow, flaky, quick].sort((a, b) => took(b) - took(a)));
  assert.equal(await page.textContent(`tr[data-job="${slow}"] td.duration`), shown(took(slow)));
  assert.equal(await page.textContent('.range'), '1–3 of 3');
  await shot('completed');
  // A search for its output finds one job; its page shows its life.
  await page.fill('#f-match', 'flaky done');
  await page.click('form.filters button[type=submit]');
  await page.locator('.range', { hasText: '1–1 of 1' }).waitFor();
  await page.click(`tr[data-job="${flaky}"] a`);
  await page.locator('#life tbody tr[data-run="2"]').waitFor();
  assert.deepEqual(await page.locator('#life tbody tr[data-run] td.outcome').allTextContents(), ['ExitStatus', 'done']);
  assert.equal(await page.textContent('#life tbody tr[data-run="2"] td.duration'), shown(took(flaky)));
  assert.equal(await page.textContent('#life tbody tr[data-run="2"] td:nth-child(5)'), 'box-1');
  assert.equal(JSON.parse(await page.textContent('#job-result')).stdout, 'flaky done\n');
  await shot('job-life');
  // Run again, from its page: a new job with the same payload, which succeeds too.
  await page.click('#job-rerun');
  await flash('pushed again: 1');
  await until(() => cli('COMPLETED.LIST', 'MATCH', 'flaky done', 'LIMIT', '0').split('\n')[1] === '2', 'the rerun to complete');
  // And in bulk: everything a search matches.
  await page.goto(`${url}/#/completed?match=quick`);
  await page.locator('.range', { hasText: 'of 1' }).waitFor();
  await page.click('#select-all-matching');
  await page.click('#completed-rerun');
  await flash('pushed again: 1');
  await until(() => cli('COMPLETED.LIST', 'MATCH', 'quick done', 'LIMIT', '0').split('\n')[1] === '2', 'the bulk rerun to complete');

  // -- Metrics: runs of known durations show the right percentiles, the API's numbers.
  // A worker at hand leases ten jobs and acknowledges each when its duration has passed since
  // its lease (100, 200, ... 1000 ms): p50 is the 5th, 500 ms; p95 the 10th, 1000 ms.
  cli('WORKER.REGISTER', 'by-hand', 'QUEUES', 'timed');
  const timed = Array.from({ length: 10 }, (_, i) => cli('JOB.PUSH', 'timed', JSON.stringify({ class: 'Timed', args: [i] })));
  const leasedAt = timed.map(() => { cli('JOB.FETCH', 'by-hand'); return Date.now(); });
  for (const [i, id] of timed.entries()) {
    // (Waiting for a moment, not for a state: the durations are what is measured.)
    await new Promise((r) => setTimeout(r, Math.max(0, leasedAt[i] + (i + 1) * 100 - Date.now())));
    cli('JOB.ACK', id, 'WORKER', 'by-hand');
  }
  // The runs' own durations (lease to acknowledgement, as the server timed them) are what the
  // percentiles must come from: a loaded machine stretches them, the histogram must not.
  const durations = timed.map(took).sort((a, b) => a - b);
  assert.ok(durations[4] >= 500 && durations[9] >= 1000, `durations ${durations}`);
  // A quantile is the middle of its value's bucket: within 1/32 of it (and 1 ms of rounding).
  const expectNear = (ms, expected, what) => assert.ok(ms >= Math.floor(expected * 31 / 32) && ms <= Math.ceil(expected * 33 / 32),
    `${what}: ${ms} ms, expected about ${expected}`);
  await page.goto(`${url}/#/metrics`);
  const seriesRow = (name) => `#metrics-table tr[data-series="${name}"]`;
  await page.locator(seriesRow('Timed')).waitFor();
  const cell = (name, n) => page.getAttribute(`${seriesRow(name)} td:nth-child(${n})`, 'data-ms').then(Number);
  assert.equal(await page.textContent(`${seriesRow('Timed')} td:nth-child(2)`), '10');
  expectNear(await cell('Timed', 5), durations[4], 'p50');
  expectNear(await cell('Timed', 6), durations[9], 'p95');
  assert.equal(await cell('Timed', 7), durations[9], 'max');
  const fromApi = await page.evaluate(async () => (await (await fetch('/api/metrics/class?last=3600')).json()).result.series);
  const timedApi = fromApi.find((s) => s.name === 'Timed');
  assert.deepEqual([await cell('Timed', 5), await cell('Timed', 6), await cell('Timed', 7)],
    [timedApi.duration_p50, timedApi.duration_p95, timedApi.duration_max]);
  // Every series the API has is a row, with its count (the shell jobs box-1 ran have no class).
  for (const s of fromApi) assert.equal(await page.textContent(`${seriesRow(s.name)} td:nth-child(2)`), s.processed.toLocaleString('en-US'));
  await shot('metrics');
  // One class's charts: its runs per minute and its percentiles.
  await page.click(`${seriesRow('Timed')} a`);
  await page.locator('#metrics-series', { hasText: 'Timed: 10 runs succeeded, 0 failed' }).waitFor();
  await until(() => page.evaluate(() => app.charts.length === 2 && app.charts[0].data[1].reduce((a, b) => a + b, 0) === 10), 'the runs chart');
  // A resque worker's run (what resque sends around a job), in the queue view by its short name.
  cli('SADD', 'resque:workers', 'host:1:reports');
  cli('SET', 'resque:worker:host:1:reports', JSON.stringify({ queue: 'reports', run_at: '2026-12-06T06:00:00Z', payload: { class: 'Report', args: [] } }));
  cli('INCRBY', 'resque:stat:processed:host:1:reports', '1');
  cli('DEL', 'resque:worker:host:1:reports');
  cli('SREM', 'resque:workers', 'host:1:reports');
  await page.click('nav[aria-label="dim"] a[data-dim="queue"]');
  await page.locator(seriesRow('timed')).waitFor();
  assert.equal(await page.textContent(`${seriesRow('timed')} td:nth-child(2)`), '10');
  assert.deepEqual(await page.locator(`${seriesRow('resque:queue:reports')} td:first-child > *`).allTextContents(), ['reports', 'resque']);
  assert.equal(await page.textContent(`${seriesRow('resque:queue:reports')} td:nth-child(2)`), '1');
  // (resque's jobs do not say when they were pushed: no wait.)
  assert.equal(await page.textContent(`${seriesRow('resque:queue:reports')} td:nth-child(8)`), '—');
  await shot('metrics-queues');
  // That run is a completed job too, by its worker; its job was not seen popped: no wait.
  await page.goto(`${url}/#/completed?class=Report`);
  await page.locator('.range', { hasText: '1–1 of 1' }).waitFor();
  assert.deepEqual(await page.locator('tbody tr[data-job] td').evaluateAll((cells) => cells.slice(2, 8).map((c) => c.textContent)),
    ['resque:queue:reports', 'Report', shown(took(cliField('id', 'COMPLETED.LIST', 'CLASS', 'Report'))), '—', 'host:1:reports', '']);
  // The queue's own page says how its last hour went.
  await page.goto(`${url}/#/queues/timed`);
  const lastHour = (await page.textContent('#queue-metrics')).match(/^Last hour: 10 runs succeeded, 0 failed · duration p50 (\d+ ms|\d+\.\d s), p95 \d+\.\d s · wait p95 [\d.]+ m?s · metrics$/);
  assert.ok(lastHour, 'the queue page names its last hour');
  // A loaded machine stretches the runs past a second, which the page shows to a tenth of one.
  if (lastHour[1].endsWith(' ms')) expectNear(Number(lastHour[1].slice(0, -3)), durations[4], 'the queue page\'s p50');
  else {
    const shownMs = Number(lastHour[1].slice(0, -2)) * 1000;  // the bucket's 1/32 and the display's 50 ms
    assert.ok(Math.abs(shownMs - durations[4]) <= Math.ceil(durations[4] / 32) + 50, `the queue page's p50: ${lastHour[1]}, expected about ${durations[4]} ms`);
  }

  // -- Scheduled: a delayed job run now, a cron schedule added.
  const delayed = cli('JOB.PUSH', 'tenants', JSON.stringify({ class: 'Later', args: [] }), 'DELAY', '3600000');
  await page.goto(`${url}/#/scheduled`);
  await page.click('text=Add or edit a schedule');
  await page.fill('#s-name', 'nightly');
  await page.fill('#s-cron', '0 3 * * *');
  await page.fill('#s-queue', 'tenants');
  await page.fill('#s-payload', '{"class":"Nightly"}');
  await page.click('button:has-text("Save schedule")');
  await flash('saved nightly');
  await page.locator('tr[data-schedule="nightly"]').waitFor();
  await shot('scheduled');
  // When it runs, absolute and relative: an hour from its push.
  assert.match(await page.textContent(`tr[data-job="${delayed}"] td:first-child`), /\S \(in 59 min \d{1,2} s\)$/);
  await page.click(`tr[data-job="${delayed}"] >> text=Run now`);
  await flash('made ready');
  assert.equal(cliField('state', 'JOB.INFO', delayed), 'ready');
  assert.equal(cliField('cron', 'SCHEDULE.INFO', 'nightly'), '0 3 * * *');
  // More delayed jobs than a page: the page says how many, and pages through them all.
  for (let i = 0; i < 30; i++) cli('JOB.PUSH', 'later-a', `{"n":${i}}`, 'DELAY', String(7200000 + i));
  for (let i = 0; i < 25; i++) cli('JOB.PUSH', 'later-b', `{"n":${i}}`, 'DELAY', String(7200000 + i));
  await page.goto(`${url}/#/scheduled?offset=0`);
  const firstPage = page.locator('.range', { hasText: /^1–50 of \d+$/ });
  await firstPage.waitFor();
  const range = (await firstPage.textContent()).match(/^1–50 of (\d+)$/);
  const allDelayed = Number(range[1]);
  assert.ok(allDelayed >= 55);
  assert.equal(await page.locator('tr[data-job]').count(), 50);
  await page.click('button:has-text("Next ›")');
  await page.locator('.range', { hasText: `51–${allDelayed} of ${allDelayed}` }).waitFor();
  assert.equal(await page.locator('tr[data-job]').count(), allDelayed - 50);
  await page.selectOption('#f-queue', 'later-b');
  await page.click('form.filters button[type=submit]');
  await page.locator('.range', { hasText: '1–25 of 25' }).waitFor();

  // -- Counts over a thousand have separators.
  cli('RPUSH', 'resque:queue:bulk', ...Array.from({ length: 12345 }, (_, i) => `{"class":"Bulk","args":[${i}]}`));
  await page.goto(`${url}/#/`);
  await page.locator('tr[data-queue="resque:queue:bulk"] td:nth-child(2)', { hasText: /^12,345$/ }).waitFor();
  await until(() => page.evaluate(async () => {
    const ready = (await (await fetch('/api/overview')).json()).queues.reduce((n, q) => n + Number(q.ready), 0);
    const shown = document.querySelector('#stat-enqueued').textContent;
    return ready > 12345 && shown === ready.toLocaleString('en-US') && /^\d{1,3}(,\d{3})+$/.test(shown);
  }), 'the queued total with separators');
  // A bulk load does not flatten the charts on the log scale: one job a second stays off the
  // floor beside 12,345 in one second (and lies on it on the linear scale).
  const lift = () => page.evaluate(() => {
    const plot = app.charts[0];
    return (plot.valToPos(0, 'y') - plot.valToPos(1, 'y')) / plot.over.clientHeight;
  });
  await until(() => page.evaluate(() => app.charts.length && Math.max(...app.charts[0].data[1]) >= 12345), 'the load in the chart');
  assert.equal(await page.getAttribute('#log-scale', 'aria-pressed'), 'false');
  assert.ok(await lift() < 0.01, `linear: ${await lift()}`);
  await page.click('#log-scale');
  await page.locator('#log-scale[aria-pressed="true"]').waitFor();
  await until(() => page.evaluate(() => app.charts.length && Math.max(...app.charts[0].data[1]) >= 12345), 'the chart drawn again');
  assert.ok(await lift() > 0.05, `log: ${await lift()}`);
  await shot('dashboard-log-scale');
  await page.click('#log-scale');
  await page.locator('#log-scale[aria-pressed="false"]').waitFor();
  // Pages of a chosen size, a jump to the last.
  await page.goto(`${url}/#/queues/${encodeURIComponent('resque:queue:bulk')}`);
  await page.locator('.range', { hasText: /^1–50 of 12,345$/ }).waitFor();
  await page.selectOption('.pager .page-size', '100');
  await page.locator('.range', { hasText: /^1–100 of 12,345$/ }).waitFor();
  assert.equal(await page.locator('#jobs tbody tr').count(), 100);
  assert.equal(await page.textContent('.pager label:has(.page-number)'), 'Page  of 124');
  await page.fill('.pager .page-number', '124');
  await page.click('.pager button:has-text("Go")');
  await page.locator('.range', { hasText: /^12,301–12,345 of 12,345$/ }).waitFor();
  assert.equal(await page.locator('#jobs tbody tr').count(), 45);
  // Deleting everything matching says how much that is first.
  confirmations.length = 0;
  page.removeAllListeners('dialog');
  page.on('dialog', (d) => { confirmations.push(d.message()); d.accept(); });
  await page.click('#select-all-matching');
  await page.click('#bulk-delete');
  await flash('deleted: 12345');
  assert.deepEqual(confirmations, ['Delete all 12,345 matching jobs?']);
  assert.equal(cli('LLEN', 'resque:queue:bulk'), '0');

  // -- A single scheduler has no cluster to show, and says so.
  await page.goto(`${url}/#/cluster`);
  await page.locator('main p', { hasText: 'runs alone' }).waitFor();

  // -- The keyboard reaches the navigation and the live toggle.
  const kb = await browser.newPage();
  await kb.goto(`${url}/#/`);
  await kb.locator('#stat-enqueued').waitFor();
  const focused = [];
  for (let i = 0; i < 10; i++) {
    await kb.keyboard.press('Tab');
    // (A link's own text, without the counts beside it.)
    focused.push(await kb.evaluate(() => document.activeElement.firstChild.textContent));
  }
  assert.deepEqual(focused, ['desaster', 'Dashboard', 'Queues', 'Workers', 'Failed', 'Completed', 'Metrics', 'Scheduled', 'Cluster', 'Live: on']);
  await kb.keyboard.press('Enter');
  assert.equal(await kb.textContent('#live'), 'Live: paused');
  await kb.close();

  // -- Hostile job data: class, arguments, queue names and failure texts full of markup, script,
  // attribute and URL payloads are shown as text. Nothing runs, nothing is fetched, no dialog.
  const marker = 'marker.invalid';
  const hostile = {
    script: '<script>alert("script")</script>',
    img: `<img src="http://${marker}/img" onerror="alert('img')">`,
    attribute: '" onmouseover="alert(1)" x="',
    url: 'javascript:alert("url")',
    svg: `<svg onload="alert('svg')"><image href="http://${marker}/svg"/></svg>`,
  };
  const evil = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  const dialogs = [], requests = [], consoleErrors = [], thrown = [];
  evil.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  evil.on('request', (r) => { if (!r.url().startsWith(url)) requests.push(r.url()); });
  evil.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  evil.on('pageerror', (e) => thrown.push(e.message));
  const evilQueue = `q${hostile.img}`;
  const evilJob = cli('JOB.PUSH', evilQueue, JSON.stringify({ class: hostile.svg, args: [hostile.script, hostile.attribute, hostile.url] }));
  cli('RPUSH', 'resque:failed', JSON.stringify({
    failed_at: '2026/12/05 10:00:00 UTC', worker: `w${hostile.attribute}`, queue: hostile.script,
    payload: { class: hostile.svg, args: [hostile.url] }, exception: hostile.img, error: hostile.url,
    backtrace: [hostile.script, hostile.svg],
  }));
  await until(() => cli('FAILED.LIST', 'ERROR', hostile.img, 'STATE', 'all', 'LIMIT', '0').split('\n')[1] === '1', 'the hostile failure');
  const evilFailure = cliField('id', 'FAILED.LIST', 'ERROR', hostile.img, 'STATE', 'all');
  const shows = async (route, texts) => {
    await evil.goto(`${url}/#/${route}`);
    await evil.locator('main h1').waitFor();
    await evil.waitForLoadState('networkidle');
    for (const text of texts) {
      await evil.waitForFunction((t) => document.querySelector('main').innerText.includes(t), text).catch(async (e) => {
        throw new Error(`#/${route} never showed ${text}: ${e.message}\n${await evil.evaluate(() => document.querySelector('main').innerText)}`);
      });
    }
    // Nothing from the data became markup: no element, attribute handler or link it names.
    const injected = await evil.evaluate(() => [...document.querySelectorAll(
      'main script, main img, main svg[onload], main image, [onmouseover], [onerror], [onload], a[href^="javascript:"]')].map((e) => e.outerHTML));
    assert.deepEqual(injected, [], `#/${route} turned data into markup`);
    await evil.mouse.move(400, 300);  // over the rows, should any handler have slipped in
  };
  await shows('queues', [evilQueue]);
  await shows(`queues/${encodeURIComponent(evilQueue)}`, [hostile.svg]);
  await shows(`jobs/${evilJob}`, [evilQueue, hostile.svg, hostile.script.replaceAll('"', '\\"')]);
  await shows('failed?state=all', [hostile.script, hostile.svg, hostile.img, hostile.url]);
  await evil.screenshot({ path: path.join(shots, 'hostile-failed.png'), fullPage: true });
  await shows(`failed/${evilFailure}`, [hostile.img, hostile.url, hostile.svg]);
  await shows('workers', []);
  assert.deepEqual({ dialogs, requests, consoleErrors, thrown }, { dialogs: [], requests: [], consoleErrors: [], thrown: [] });
  await evil.close();

  // -- A page still loading when the address changes never replaces the newer one: the failure
  // groups are held until the next page was asked for.
  let releaseGroups;
  const groupsHeld = new Promise((resolve) => { releaseGroups = resolve; });
  await page.route('**/api/failed/groups**', async (r) => { await groupsHeld; await r.continue(); });
  const groupsAsked = page.waitForRequest('**/api/failed/groups**');
  await page.goto(`${url}/#/failed?group=fingerprint`);
  await groupsAsked;
  const groupsAnswered = page.waitForResponse('**/api/failed/groups**');
  await page.goto(`${url}/#/completed`);
  releaseGroups();
  await groupsAnswered;
  await page.waitForLoadState('networkidle');
  await page.locator('main h1', { hasText: 'Completed jobs' }).waitFor();
  assert.deepEqual(await page.locator('main h1').allTextContents(), ['Completed jobs']);
  await page.unroute('**/api/failed/groups**');

  // -- Logged in as an ACL user who may only read, a person sees no action, and the API
  // refuses what the page no longer offers.
  cli('ACL', 'SETUSER', 'viewer', 'on', '>view', '~*', '&*', '+@read', '+@connection');
  const usersWeb = start('web-users', bin('desaster-web', 'DESASTER_WEB'), ['--scheduler', `127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--users']);
  const usersUrl = (await until(() => usersWeb.log().match(/serving (http:\/\/[^/ ]+)\//), 'desaster-web --users'))[1];
  const reader = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  reader.on('pageerror', (e) => errors.push(e.message));
  await reader.goto(`${usersUrl}/#/queues`);
  await reader.fill('#user', 'viewer');
  await reader.fill('#password', 'view');
  await reader.click('button:has-text("Log in")');
  await reader.locator('tr[data-queue="tenants"]').waitFor();
  assert.equal(await reader.textContent('#logout'), 'Log out viewer');
  // The actions a page offers: its buttons and forms, less paging, filtering and selecting.
  const offeredOn = (p) => p.evaluate(() => [...document.querySelectorAll('main button, main summary, main form.inline')]
    .filter((e) => !e.closest('.pager, .chart-tools')).map((e) => e.textContent.trim()).filter((t) => !['Apply', 'Show'].includes(t) && !t.startsWith('Select all')));
  const offered = () => offeredOn(reader);
  assert.deepEqual(await offered(), [], 'the queues page offers actions to a reader');
  await page.goto(`${url}/#/queues`);
  await page.locator('tr[data-queue="tenants"]').waitFor();
  assert.ok((await offeredOn(page)).includes('Pause'), 'the open UI offers no Pause: the check above proves nothing');
  const readerPages = [['', 'Dashboard'], [`queues/${encodeURIComponent('resque:queue:reports')}`, 'Queue'], [`jobs/${sleeper}`, 'Job'],
    ['workers', 'Workers'], ['failed', 'Failed jobs'], ['failed?group=fingerprint', 'Failed jobs'], ['completed', 'Completed jobs'],
    [`jobs/${slow}`, 'Job'], ['scheduled', 'Scheduled'], ['metrics', 'Metrics']];
  for (const [route, title] of readerPages) {
    await reader.goto(`${usersUrl}/#/${route}`);
    await reader.locator('main h1', { hasText: title }).waitFor();
    await reader.waitForLoadState('networkidle');
    assert.deepEqual(await offered(), [], `#/${route} offers actions to a reader`);
  }
  // The dashboard leaves out what the user may not read (INFO: the node), and still shows the rest.
  await reader.goto(`${usersUrl}/#/`);
  await reader.locator('#stat-enqueued').waitFor();
  assert.equal(await reader.locator('#node-version').count(), 0);
  const refused = await reader.evaluate(async () => {
    const s = await (await fetch('/api/session')).json();
    const r = await fetch('/api/queues/tenants/pause', { method: 'POST', headers: { 'X-CSRF-Token': s.csrf, 'Content-Type': 'application/json' }, body: '{}' });
    return [r.status, (await r.json()).error];
  });
  assert.equal(refused[0], 403);
  assert.match(refused[1], /^NOPERM/);
  await reader.screenshot({ path: path.join(shots, 'reader-queues.png'), fullPage: true });
  await reader.close();

  // -- A phone, 390 px wide: no page is wider than the screen, and the navigation is all on it.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  phone.on('pageerror', (e) => errors.push(String(e)));
  const pages = ['', 'queues', `queues/${encodeURIComponent('resque:queue:reports')}`, 'workers',
    'failed', 'failed?group=fingerprint', 'completed', 'metrics', `jobs/${slow}`, 'scheduled', `jobs/${sleeper}`, 'cluster'];
  for (const route of pages) {
    await phone.goto(`${url}/#/${route}`);
    await phone.locator('main h1').waitFor();
    await phone.waitForLoadState('networkidle');
    const [scrollWidth, innerWidth, wide] = await phone.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth,
      [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth).map((e) => e.outerHTML.slice(0, 120)).join('\n')]);
    assert.ok(scrollWidth <= innerWidth, `#/${route} is ${scrollWidth} px wide on a ${innerWidth} px screen: ${wide}`);
    for (const link of await phone.locator('#nav a').all()) {
      const box = await link.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= innerWidth, `#/${route}: the ${await link.textContent()} link is off the screen`);
    }
  }
  await phone.goto(`${url}/#/`);
  await phone.locator('#nav a', { hasText: 'Workers' }).click();
  await phone.locator('main h1', { hasText: 'Workers' }).waitFor();
  await phone.screenshot({ path: path.join(shots, 'phone-workers.png'), fullPage: true });
  await phone.close();

  assert.deepEqual(errors, [], 'the page threw');
  console.log(`browser test passed; screenshots in ${shots}`);
} catch (e) {
  console.error(e);
  if (page) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    console.error(`page at ${page.url()}; screenshot in ${path.join(shots, 'failure.png')}`);
  }
  for (const f of fs.readdirSync(tmp).filter((f) => f.endsWith('.log'))) {
    console.error(`--- ${f}\n${fs.readFileSync(path.join(tmp, f), 'utf8').slice(-3000)}`);
  }
  process.exitCode = 1;  // a failure, reported by ctest
} finally {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.on('exit', r)))));
  fs.rmSync(tmp, { recursive: true, force: true });
}
