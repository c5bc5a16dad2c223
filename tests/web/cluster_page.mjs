// The cluster page of desaster-web in Chromium (tests/integration/test_cluster.py drives the
// cluster around it): opens #/cluster at the URL given, waits until the page names the master
// given (host:port) with the number of nodes given, and prints what the page shows as JSON.
// A screenshot goes to $DESASTER_SCREENSHOTS/cluster-<master port>.png.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { chromium } = await import(path.join(root, 'web/node_modules/playwright-core/index.mjs'));
const [url, master, nodes] = process.argv.slice(2);
const shots = process.env.DESASTER_SCREENSHOTS || path.join(root, 'build', 'web-screenshots');
fs.mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}/#/cluster`);
  // What the page shows, read from its DOM as a user reads it.
  const read = () => page.evaluate(() => {
    const text = (el) => (el ? el.textContent.trim() : null);
    const rows = (sel) => [...document.querySelectorAll(`${sel} tbody tr[data-row]`)].map((tr) =>
      Object.fromEntries([...tr.children].map((td) => [td.dataset.col, td.textContent.trim()])));
    return {
      master: text(document.querySelector('[data-field="master"]')),
      epoch: text(document.querySelector('[data-field="epoch"]')),
      session: text(document.querySelector('[data-field="session"]')),
      nodes: rows('table.nodes'),
      history: rows('table.history'),
    };
  });
  const deadline = Date.now() + 30000;
  let shown = await read();
  while (!(shown.master === master && shown.nodes.length === Number(nodes))) {
    if (Date.now() > deadline) {
      const text = await page.evaluate(() => document.body.innerText);
      throw new Error(`the page never showed master ${master} with ${nodes} nodes: ${JSON.stringify(shown)}\n${text}\n${errors.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    shown = await read();
  }
  await page.screenshot({ path: path.join(shots, `cluster-${master.split(':').pop()}.png`), fullPage: true });
  console.log(JSON.stringify(shown));
} finally {
  await browser.close();
}
