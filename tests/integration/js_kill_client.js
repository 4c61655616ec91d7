// js_kill_client.js - load for tests/integration/js_kill.sh: sends JoinReqs
// with increasing DevNonces for two devices (1.0.4: counter rule, 1.0.2:
// never-twice rule) over keep-alive HTTP, rides through server restarts,
// and after each connection failure re-sends DevNonces that were already
// answered (they must be refused). Decrypts every accept with lora-packet
// to read its JoinNonce. Stops when the file argv[2] exists; prints TAP.
"use strict";
const http = require("http");
const fs = require("fs");
const { joinReqBody, openAccept } = require("./js_joinreq.js");
const [port, stopFile, token, joinEui, ...devs] = process.argv.slice(2); // devs: "deveui:key:mac" ...
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: +port, path: "/", method: "POST", agent,
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token } }, (res) => {
      let d = ""; res.on("data", (c) => (d += c)); res.on("end", () => {
        try { resolve(JSON.parse(d)); } catch (e) { reject(new Error("bad body " + d)); } });
    });
    req.on("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.end(body);
  });
}
const body = (dev, nonce) => joinReqBody(joinEui, dev, nonce, nonce);

(async () => {
  const list = devs.map((s) => { const [eui, key, mac] = s.split(":"); return { eui, key, mac, next: 1, answered: [], joinNonces: [] }; });
  let errors = 0, violations = [], replayChecks = 0, sent = 0;
  let i = 0;
  while (!fs.existsSync(stopFile)) {
    const dev = list[i++ % list.length];
    const nonce = dev.next;
    let ans;
    try { ans = await post(body(dev, nonce)); sent++; }
    catch (e) {
      errors++;
      await sleep(30);
      // the server is (re)starting: once it answers, every answered DevNonce
      // of the last few must be refused
      for (;;) {
        if (fs.existsSync(stopFile)) break;
        try {
          for (const d of list) for (const old of d.answered.slice(-3)) {
            const r = await post(body(d, old)); replayChecks++;
            if (r.Result && r.Result.ResultCode === "Success") violations.push(d.mac + " DevNonce " + old + " accepted twice");
          }
          break;
        } catch (e2) { await sleep(30); }
      }
      continue; // retry the same nonce: accepted if it was not committed, refused if it was
    }
    const code = ans.Result && ans.Result.ResultCode;
    if (code === "Success") {
      const { micOk, joinNonce: jn } = openAccept(dev, ans);
      if (!micOk) violations.push("bad accept MIC");
      if (dev.answered.includes(nonce)) violations.push(dev.mac + " DevNonce " + nonce + " answered twice");
      if (dev.joinNonces.length && jn <= dev.joinNonces[dev.joinNonces.length - 1])
        violations.push(dev.mac + " JoinNonce " + jn + " after " + dev.joinNonces[dev.joinNonces.length - 1]);
      dev.answered.push(nonce); dev.joinNonces.push(jn);
    }
    dev.next++; // Success, or refused because a lost answer's commit consumed it
  }
  let n = 0;
  const t = (ok, msg) => console.log((ok ? "ok " : "not ok ") + ++n + " - " + msg);
  const total = list.reduce((s, d) => s + d.answered.length, 0);
  t(total > 20, "joins answered under load: " + total + " (" + sent + " requests, " + errors + " connection failures)");
  t(errors > 0, "the client saw the server die");
  t(replayChecks > 0, "answered DevNonces re-sent after restarts: " + replayChecks);
  t(violations.length === 0, "no DevNonce accepted twice, JoinNonces strictly increase" + (violations.length ? ": " + violations.slice(0, 5).join("; ") : ""));
  for (const d of list) {
    const s = new Set(d.joinNonces);
    t(s.size === d.joinNonces.length, d.mac + ": " + d.joinNonces.length + " JoinNonces, none repeated");
  }
  console.log("1.." + n);
  agent.destroy();
  process.exit(violations.length ? 1 : 0);
})();
