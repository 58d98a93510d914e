// Drives headless Chromium through Playwright (playwright-core, no browser
// download: the distribution's Chromium) against the chat and clock
// examples served over HTTPS: `node check.cjs NODE_MODULES CHROMIUM SPKI
// CHAT_URL CLOCK_URL`. Prints one line per check; exits non-zero on the
// first failure.
const path = require("path");
const [modules, chromiumPath, spki, chatUrl, clockUrl] = process.argv.slice(2);
const { chromium } = require(path.join(modules, "playwright-core"));

function check(what, ok, detail) {
  console.log(`${ok ? "ok" : "FAILED"}: ${what}${detail === undefined ? "" : ` (${detail})`}`);
  if (!ok) {
    process.exitCode = 1;
    throw new Error(what);
  }
}

const protocol = (page) => page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);

(async () => {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      // As root, and with the network closed (no look-ups to stall on).
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
      // Trust the throwaway CA's key (the certificate chain's SPKI hashes).
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
  });
  try {
    const context = await browser.newContext();
    const [a, b] = [await context.newPage(), await context.newPage()];
    for (const page of [a, b]) {
      const response = await page.goto(chatUrl);
      check("chat page loads over HTTPS", response.ok() && page.url().startsWith("https://"), page.url());
      const proto = await protocol(page);
      check("chat page came over HTTP/2", proto === "h2", proto);
      await page.waitForFunction(() => ws.readyState === WebSocket.OPEN && ws.url.startsWith("wss://"));
    }
    check("both pages joined the room over wss://", true);
    const extensions = await a.evaluate(() => ws.extensions);
    check("the WebSocket is compressed (permessage-deflate)", extensions.startsWith("permessage-deflate"), extensions);
    await a.evaluate(() => ws.send("hello from page A"));
    await b.evaluate(() => ws.send("hello from page B"));
    for (const [name, page] of [["A", a], ["B", b]]) {
      await page.waitForFunction(
        () => log.textContent.includes("hello from page A") && log.textContent.includes("hello from page B"),
      );
      check(`page ${name} sees both pages' messages`, true, (await page.evaluate(() => log.textContent)).trim().replace(/\n/g, " | "));
    }
    const c = await context.newPage();
    await c.goto(clockUrl);
    const proto = await protocol(c);
    check("clock page came over HTTP/2", proto === "h2", proto);
    const first = await c.waitForFunction(() => document.getElementById("t").textContent.endsWith("UTC")).then(() => c.evaluate(() => document.getElementById("t").textContent));
    await c.waitForFunction((t) => document.getElementById("t").textContent !== t, first);
    const second = await c.evaluate(() => document.getElementById("t").textContent);
    check("the clock ticks through its event stream", first !== second, `${first} -> ${second}`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
