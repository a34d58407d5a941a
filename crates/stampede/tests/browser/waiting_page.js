// Drives the waiting-room page in headless chromium (playwright-core, from
// .stampede/browser, installed by scripts/browser.sh): opens one fan's page,
// waits until the page shows a place in line, tells the test (a line
// "QUEUED <position>" on stdout) and waits for it to resume admission, then
// sees the place fall and the page switch to seat selection, and saves a
// screenshot. Prints one JSON line "RESULT {...}" and exits 0, or exits 1.
// Usage: node waiting_page.js <page url> <screenshot path>
const path = require('path');
const { chromium } = require(path.resolve(__dirname, '../../../../.stampede/browser/node_modules/playwright-core'));

(async () => {
  const [url, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('position').textContent), null, { timeout: 30000 });
    const first = Number(await page.textContent('#position'));
    console.log('QUEUED ' + first);
    const seen = [first];
    const deadline = Date.now() + 60000;
    while (!(await page.isVisible('#seat-selection'))) {
      if (Date.now() > deadline) throw new Error('never admitted; positions seen: ' + seen);
      const text = await page.textContent('#position');
      if (/^\d+$/.test(text) && Number(text) !== seen[seen.length - 1]) seen.push(Number(text));
      await page.waitForTimeout(100);
    }
    await page.waitForSelector('#seats button', { timeout: 30000 });
    const seats = await page.$$eval('#seats button', (buttons) => buttons.length);
    const error = await page.textContent('#error');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log('RESULT ' + JSON.stringify({ seen, seats, error }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
