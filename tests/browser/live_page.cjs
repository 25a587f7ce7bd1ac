// The live page in a real headless Chromium (run by tests/integration/edge/browser.rs).
//
// Environment: BASE_URL (a running `serve`), CHROMIUM (executable), PLAYWRIGHT_CORE (the
// playwright-core package directory), and the names to use: SKU, BATCH, ORDERID.
// From the page only (as a user would): create a batch and allocate an order line with the
// forms, then wait until the feed shows BatchCreated and Allocated and the allocations table
// shows the order's row. Prints "live page: ok" and exits 0; on any failure prints what the
// page showed and exits 1.
"use strict";

const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const { BASE_URL, CHROMIUM, SKU, BATCH, ORDERID } = process.env;
const STEP_TIMEOUT = 30000;

setTimeout(() => {
  console.error("live page: the whole test took too long");
  process.exit(1);
}, 150000).unref();

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  const problems = [];
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
    try {
      await page.goto(BASE_URL + "/");
      await page.getByRole("heading", { name: "Event feed" }).waitFor();
      await page.locator("#feed-status", { hasText: "live" }).waitFor();

      const batch = page.locator("#create-batch");
      await batch.getByLabel("Reference").fill(BATCH);
      await batch.getByLabel("SKU").fill(SKU);
      await batch.getByLabel("Quantity").fill("10");
      await batch.getByRole("button", { name: "Create batch" }).click();
      await page.locator("#command-status", { hasText: "accepted" }).waitFor();
      await page.locator('#feed li[data-type="BatchCreated"]', { hasText: "reference=" + BATCH }).waitFor();
      console.log("live page: BatchCreated in the feed");

      const allocate = page.locator("#allocate");
      await allocate.getByLabel("Order id").fill(ORDERID);
      await allocate.getByLabel("SKU").fill(SKU);
      await allocate.getByLabel("Quantity").fill("3");
      await allocate.getByRole("button", { name: "Allocate" }).click();
      await page.locator('#feed li[data-type="Allocated"]', { hasText: "orderid=" + ORDERID }).waitFor();
      console.log("live page: Allocated in the feed");

      const row = page.locator("#allocations tr", { hasText: SKU });
      await row.filter({ hasText: BATCH }).waitFor();
      console.log("live page: allocation row " + (await row.innerText()).replace(/\s+/g, " "));
      if (problems.length) throw new Error(problems.join("; "));
      console.log("live page: ok");
    } catch (e) {
      console.error("live page: FAILED: " + e.message);
      for (const p of problems) console.error("live page: " + p);
      console.error("live page: command status: " + (await page.locator("#command-status").innerText().catch(() => "?")));
      console.error("live page: feed status: " + (await page.locator("#feed-status").innerText().catch(() => "?")));
      console.error("live page: feed:\n" + (await page.locator("#feed").innerText().catch(() => "?")));
      console.error("live page: allocations: " + (await page.locator("#allocations").innerText().catch(() => "?")));
      process.exitCode = 1;
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error("live page: cannot run: " + (e && e.stack || e));
  process.exit(1);
});
