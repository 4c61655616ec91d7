// console.test.js - the activation console in a real browser (Debian's
// chromium, driven by puppeteer-core), against `ferry demo --console true`:
// its IDM, Join Servers, networks and simulated devices, all real on
// 127.0.0.1. Run by tests/integration/console_browser.sh with
//   CONSOLE_JSON  the demo's console.json (URL, token files, batch)
//   SHOTS         where the screenshots go ($(BUILD)/console)
//   CHROMIUM      the browser (default /usr/bin/chromium)
// Prints TAP; every wait has one deadline (WAIT_S, scaled by the caller).
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");
const puppeteer = require("puppeteer-core");

const conf = JSON.parse(fs.readFileSync(process.env.CONSOLE_JSON, "utf8"));
const SHOTS = process.env.SHOTS;
const WAIT_MS = 1000 * Number(process.env.WAIT_S || 90);
const tok = (who) => fs.readFileSync(conf.tokens[who], "utf8").trim();
const batch = fs.readFileSync(conf.batch, "utf8").trim().split("\n").map((l) => JSON.parse(l));

let n = 0, failed = 0;
function check(desc, cond, info) {
  n++;
  if (cond) console.log(`ok ${n} - ${desc}`);
  else { failed++; console.log(`not ok ${n} - ${desc}`); if (info) console.log("# " + String(info).split("\n").join("\n# ")); }
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage: true });
}

// Waits for fn() (evaluated in the page) to be true; false after the deadline.
async function until(page, fn, arg) {
  try { await page.waitForFunction(fn, { timeout: WAIT_MS, polling: 250 }, arg); return true; }
  catch (e) { return false; }
}

// A raw stream of a tenant's events, read from node: every DevEUI it names.
function rawStream(token, seen) {
  const u = new URL("api/v1/events", conf.url);
  const req = http.get(u, { headers: { Authorization: "Bearer " + token } }, (res) => {
    res.setEncoding("utf8");
    res.on("data", (t) => { for (const m of t.matchAll(/"DevEUI":"([0-9A-F]{16})"/g)) seen.add(m[1]); });
  });
  req.on("error", () => {});
  return req;
}

async function signInWithForm(page, token) {
  await page.goto(conf.url, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#token", { visible: true });
  await page.type("#token", token);
  await page.click("#signin");
}

// Clicks what sel finds, inside the page in one step: the fleet table is
// drawn again whenever a change arrives, so a handle taken a moment before
// may be gone by the time a click would land.
async function press(page, sel) {
  await page.waitForSelector(sel);
  await page.$eval(sel, (e) => e.click());
}

async function fleetStates(page) {
  return page.$$eval("#fleet-body tr", (trs) => trs.map((tr) => [tr.dataset.dev, tr.children[2].textContent]));
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  const errors = [];
  const elsewhere = []; /* requests to anything but idm serve: the console works offline */
  const watch = (page, who) => {
    page.on("request", (r) => { if (!r.url().startsWith(conf.url) && !r.url().startsWith("data:")) elsewhere.push(`${who}: ${r.url()}`); });
    page.on("pageerror", (e) => errors.push(`${who}: ${e.message}`));
    page.on("console", (m) => { if (m.type() === "error" && !/401|503|Failed to load resource/.test(m.text())) errors.push(`${who}: ${m.text()}`); });
  };
  try {
    const devs = batch.map((b) => b.DevEUI);
    const acmeDevs = devs.slice(0, 4), moved = devs.slice(0, 2), kept = devs.slice(2, 4);
    const boltSeen = new Set();
    const boltRaw = rawStream(tok("bolt"), boltSeen);

    // ---- a wrong token
    const ctxA = await browser.createBrowserContext();
    const acme = await ctxA.newPage();
    watch(acme, "acme");
    await acme.setViewport({ width: 1200, height: 800 });
    await signInWithForm(acme, "0".repeat(64));
    const wrong = await until(acme, () => !document.getElementById("signin-error").hidden);
    const wrongText = await acme.$eval("#signin-error", (e) => e.textContent);
    const focus = await acme.evaluate(() => document.activeElement && document.activeElement.id);
    check("a wrong token shows a sign-in error in words, and the focus is back in the token field",
      wrong && /Sign-in failed/.test(wrongText) && focus === "token", `${wrongText} (focus: ${focus})`);
    await shot(acme, "signin-error");

    // ---- acme signs in from the URL fragment, which leaves the address bar
    await acme.goto(conf.url + "#token=" + tok("acme"), { waitUntil: "domcontentloaded" });
    const signedIn = await until(acme, () => /acme/.test(document.getElementById("who-name").textContent));
    const url = acme.url();
    check("acme signs in from #token=..., and the token leaves the address bar", signedIn && !url.includes("#") && !url.includes(tok("acme")), url);
    const live = await until(acme, () => document.getElementById("live").textContent === "live");
    check("acme's page is live (its event stream said hello)", live);

    // ---- claim 4 devices from their QR payloads (one bad line too)
    await acme.click("#nav-claim");
    const lines = batch.slice(0, 4).map((b) => b.QR).concat(["LW:D0:70B3D57ED0000000:NOTADEVEUI:00000001:O00"]);
    await acme.$eval("#claim-lines", (t, v) => { t.value = v; }, lines.join("\n"));
    await acme.select("#claim-js", "acme-js");
    await acme.click("#claim-submit");
    const claimed = await until(acme, () => /4 claimed, 1 failed/.test(document.getElementById("claim-summary").textContent));
    const claimRows = await acme.$$eval("#claim-body tr", (trs) => trs.map((t) => t.textContent));
    check("4 devices claimed from QR payloads and assigned to acme-js, the bad line refused on its own line",
      claimed && claimRows.filter((r) => /claimed, assigned to acme-js/.test(r)).length === 4 &&
      claimRows.some((r) => /^5.*not sent/.test(r)), claimRows.join("\n"));
    await shot(acme, "claim");

    // ---- the fleet goes live to active_at_customer
    await acme.click("#nav-fleet");
    const active = await until(acme, (want) => {
      const rows = [...document.querySelectorAll("#fleet-body tr")];
      return rows.length === want && rows.every((r) => r.children[2].textContent === "active at customer");
    }, 4);
    check("acme's fleet table shows its 4 devices become active at customer, live", active, JSON.stringify(await fleetStates(acme)));
    await shot(acme, "fleet");

    // ---- bolt signs in with the form, in its own browser context
    const ctxB = await browser.createBrowserContext();
    const bolt = await ctxB.newPage();
    watch(bolt, "bolt");
    await bolt.setViewport({ width: 1200, height: 800 });
    await signInWithForm(bolt, tok("bolt"));
    const boltIn = await until(bolt, () => /bolt/.test(document.getElementById("who-name").textContent) &&
      document.getElementById("live").textContent === "live");
    check("bolt signs in with the form; its fleet is empty", boltIn && (await fleetStates(bolt)).length === 0);

    // ---- acme transfers 2 to bolt; bolt's page sees them become active at bolt
    for (const d of moved) await press(acme, `#fleet-body tr[data-dev="${d}"] input[type=checkbox]`);
    await acme.click("#act-transfer");
    await acme.waitForSelector("#confirm[open]");
    const confirmText = await acme.$eval("#confirm-text", (e) => e.textContent);
    check("the confirmation says how many and what happens to the devices",
      /Transfer 2 secure elements/.test(confirmText) && /falls back/.test(confirmText), confirmText);
    await acme.type("#c-tenant", "bolt");
    await shot(acme, "transfer-confirm");
    await acme.click("#confirm-ok");
    const handed = await until(acme, () => [...document.querySelectorAll("#progress li")].filter((l) => /bolt/.test(l.textContent)).length === 2);
    check("acme's page shows the transfers in progress", handed);
    const atBolt = await until(bolt, (want) => {
      const rows = [...document.querySelectorAll("#fleet-body tr")];
      return want.every((d) => rows.some((r) => r.dataset.dev === d && r.children[2].textContent === "active at customer"));
    }, moved);
    check("bolt's page shows the 2 transferred devices become active at customer, live", atBolt, JSON.stringify(await fleetStates(bolt)));
    await shot(bolt, "fleet-bolt");
    const acmeDone = await until(acme, () => [...document.querySelectorAll("#progress li.done")].filter((l) => /handed over to bolt/.test(l.textContent)).length === 2);
    check("acme's progress ends when the devices left it for bolt", acmeDone,
      (await acme.$$eval("#progress li", (ls) => ls.map((l) => l.textContent))).join("\n"));

    // ---- a secure command and its reply
    await press(acme, `#fleet-body tr[data-dev="${kept[0]}"] input[type=checkbox]`);
    await acme.click("#act-command");
    await acme.waitForSelector("#confirm[open]");
    await acme.type("#c-payload", "0102C0FFEE");
    await acme.click("#confirm-ok");
    const replied = await until(acme, () => [...document.querySelectorAll("#progress li.done")].some((l) => /the device replied [0-9A-F]+/.test(l.textContent)));
    const prog = await acme.$$eval("#progress li", (ls) => ls.map((l) => l.textContent));
    check("a secure command is sent and the device's reply read back", replied, prog.join("\n"));
    await shot(acme, "command");

    // ---- one SE: its timeline
    await press(acme, `#fleet-body tr[data-dev="${kept[0]}"] a`);
    const tl = await until(acme, () => /joined the customer network/.test(document.getElementById("timeline").textContent) &&
      document.querySelectorAll("#se-commands tr").length === 1);
    check("one SE: its timeline from the audit chain (bootstrap join to active at customer) and its command", tl,
      await acme.$eval("#timeline", (e) => e.textContent));
    await shot(acme, "se");

    // ---- overview
    await acme.click("#nav-overview");
    const ov = await until(acme, () => /active at customer/.test(document.getElementById("ov-states").textContent));
    check("acme's overview charts its SEs per state", ov);
    await shot(acme, "overview");

    // ---- every SE that matches a filter, across pages: a page size of 1
    // (an option added here: the console offers 25 and up), so the console
    // finds the 2 on acme-js over 2 pages and sends them in 2 requests
    await acme.click("#nav-fleet");
    await acme.evaluate(() => { const s = document.getElementById("f-limit"); s.add(new Option("1", "1")); s.value = "1"; });
    await acme.select("#f-js", "acme-js");
    await press(acme, "#filters button[type=submit]");
    const paged = await until(acme, () => document.querySelectorAll("#fleet-body tr").length === 1 &&
      !document.getElementById("page-next").disabled);
    const batches = [];
    acme.on("request", (r) => { if (r.method() === "POST" && r.url().endsWith("/api/v1/fleet/commands")) batches.push(JSON.parse(r.postData()).DevEUIs.join("+")); });
    await press(acme, "#act-all");
    await acme.click("#act-command");
    await acme.waitForSelector("#confirm[open]");
    const allText = await acme.$eval("#confirm-text", (e) => e.textContent);
    check("acting on every SE that matches a filter (2 over 2 pages of 1): the confirmation says the exact count, the filter and what happens",
      paged && /These are all 2 secure elements that match Join Server acme-js/.test(allText) &&
      /Send a secure command to 2 secure elements\? Each device application receives the bytes/.test(allText), allText);
    await acme.type("#c-payload", "A1B2C3");
    await shot(acme, "fleet-all-confirm");
    await acme.click("#confirm-ok");
    const allDone = await until(acme, () => /Secure command on 2 secure elements \(all that match Join Server acme-js\): 2 confirmed, 0 refused or failed, 0 waiting/
      .test(document.getElementById("progress").textContent));
    const allProg = await acme.$$eval("#progress li", (ls) => ls.map((l) => l.textContent));
    check("they are sent in batches under the page size (2 requests of 1 DevEUI), and the progress follows both devices until they replied",
      allDone && batches.length === 2 && kept.every((d) => batches.includes(d)) &&
      kept.every((d) => allProg.some((l) => l.startsWith(d + ": command") && /the device replied [0-9A-F]+/.test(l))),
      `requests ${batches.join(" ")}\n${allProg.join("\n")}`);
    await shot(acme, "fleet-all-progress");
    await acme.select("#f-limit", "100");
    await acme.select("#f-js", "");
    await press(acme, "#filters button[type=submit]");

    // ---- the maker and the operator
    const ctxM = await browser.createBrowserContext();
    const maker = await ctxM.newPage();
    watch(maker, "maker");
    await maker.setViewport({ width: 1200, height: 800 });
    await maker.goto(conf.url + "#token=" + tok("maker"), { waitUntil: "domcontentloaded" });
    const makerRows = await until(maker, (want) => document.querySelectorAll("#fleet-body tr").length === want, devs.length);
    check(`the maker sees the ${devs.length} devices of its batch`, makerRows);
    await shot(maker, "fleet-maker");

    // ---- the maker sorts its whole fleet by state, descending, from the
    // keyboard, in pages of 4: both pages together are the server's order
    await maker.evaluate(() => { const s = document.getElementById("f-limit"); s.add(new Option("4", "4")); s.value = "4"; });
    await press(maker, "#filters button[type=submit]");
    await until(maker, () => document.querySelectorAll("#fleet-body tr").length === 4);
    await maker.focus('th button[data-key="state"]');
    await maker.keyboard.press("Enter");
    const asc = await until(maker, () => document.querySelector('th button[data-key="state"]').parentElement.getAttribute("aria-sort") === "ascending");
    await maker.keyboard.press("Enter");
    const desc = await until(maker, () => document.querySelector('th button[data-key="state"]').parentElement.getAttribute("aria-sort") === "descending" &&
      !document.querySelector('th button[data-key="dev_eui"]').parentElement.hasAttribute("aria-sort"));
    await until(maker, () => document.querySelectorAll("#fleet-body tr").length === 4);
    const page1 = (await fleetStates(maker)).map(([d]) => d);
    await shot(maker, "fleet-sorted");
    await press(maker, "#page-next");
    await until(maker, () => /Page 2/.test(document.getElementById("page-info").textContent) && document.querySelectorAll("#fleet-body tr").length === 2);
    const page2 = (await fleetStates(maker)).map(([d]) => d);
    const want = await maker.evaluate(async (t) => (await (await fetch("/api/v1/ses?sort=state&order=desc&limit=500",
      { headers: { Authorization: "Bearer " + t } })).json()).SEs.map((x) => x.DevEUI), tok("maker"));
    check("the maker sorts by state with the keyboard (Enter: ascending, again: descending, aria-sort says so); pages of 4 follow the server's order across pages",
      asc && desc && page1.concat(page2).join() === want.join() && want.length === devs.length,
      `pages ${page1} | ${page2}; server ${want}`);
    const ctxO = await browser.createBrowserContext();
    const op = await ctxO.newPage();
    watch(op, "operator");
    await op.setViewport({ width: 1200, height: 800 });
    await op.goto(conf.url + "#token=" + tok("operator"), { waitUntil: "domcontentloaded" });
    const opIn = await until(op, () => /operator 000042/.test(document.getElementById("who-name").textContent) &&
      !document.getElementById("ov-operator").hidden && document.querySelectorAll("#op-counters tbody tr").length > 0);
    const opNav = await op.$eval("#nav-fleet", (b) => b.hidden);
    check("the operator signs in and sees its activation counters, and no fleet", opIn && opNav);
    await shot(op, "overview-operator");

    // ---- isolation: bolt never sees acme's devices, anywhere
    await bolt.click("#nav-overview");
    await until(bolt, () => /active at customer/.test(document.getElementById("ov-states").textContent));
    await bolt.click("#nav-fleet");
    await until(bolt, () => document.querySelectorAll("#fleet-body tr").length === 2);
    await press(bolt, `#fleet-body tr[data-dev="${moved[0]}"] a`);
    await until(bolt, () => document.getElementById("timeline").children.length > 0);
    const boltText = await bolt.evaluate(() => document.body.innerText);
    const boltApi = await bolt.evaluate(async (t) => (await (await fetch("/api/v1/ses", { headers: { Authorization: "Bearer " + t } })).json()).SEs.map((s) => s.DevEUI), tok("bolt"));
    check("bolt's views, list and stream never show acme's devices",
      kept.every((d) => !boltText.includes(d) && !boltSeen.has(d)) && boltApi.sort().join() === moved.slice().sort().join() &&
      moved.every((d) => boltSeen.has(d)), `text has ${kept.filter((d) => boltText.includes(d))}; stream saw ${[...boltSeen]}; list ${boltApi}`);
    const acmeText = await acme.evaluate(async () => { document.getElementById("nav-fleet").click(); await new Promise((r) => setTimeout(r, 1500)); return document.body.innerText; });
    check("acme's fleet no longer lists the 2 it transferred", moved.every((d) => !acmeText.includes(d)) || /handed over/.test(acmeText));

    // ---- phone width
    await acme.setViewport({ width: 390, height: 844, isMobile: true });
    await acme.click("#nav-fleet");
    await until(acme, () => document.querySelectorAll("#fleet-body tr").length === 2);
    const overflow = await acme.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
    check("at a phone's width the page does not scroll sideways (the table scrolls in its box)", overflow);
    await shot(acme, "fleet-phone");

    check("no script error in any page", errors.length === 0, errors.join("\n"));
    check("no request left idm serve (no CDN, nothing fetched from elsewhere)", elsewhere.length === 0, elsewhere.join("\n"));
    const kb = await acme.evaluate(() => [...document.querySelectorAll("button, input, select, textarea")]
      .filter((e) => e.offsetParent !== null && !e.disabled && e.tabIndex < 0).map((e) => e.id || e.textContent));
    check("every visible control is reachable with the keyboard", kb.length === 0, kb.join(", "));
    const unlabelled = await acme.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
      .filter((e) => e.type !== "hidden" && !e.labels?.length && !e.getAttribute("aria-label")).map((e) => e.id || e.name));
    check("every field has a label", unlabelled.length === 0, unlabelled.join(", "));
    boltRaw.destroy();
  } catch (e) {
    check("the browser test ran to its end", false, e.stack);
  } finally {
    await browser.close();
  }
  console.log(`1..${n}`);
  process.exit(failed === 0 ? 0 : 1);
})();
