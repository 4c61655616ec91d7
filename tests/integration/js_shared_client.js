// js_shared_client.js - load for tests/integration/js_shared.sh: several
// keep-alive connections (one agent each, so the kernel spreads them over
// the processes sharing the port) send the SAME JoinReq at once, round after
// round, for a 1.0.4 and a 1.0.2 device. Per round and device exactly one
// may succeed; every accept is decrypted and MIC-checked with lora-packet
// and its JoinNonce must never repeat and must grow. A request that fails
// on the connection (a process killed) is retried on a fresh connection.
// Runs until the file argv[2] exists (after at least MIN rounds); prints TAP.
"use strict";
const http = require("http");
const fs = require("fs");
const { joinReqBody, openAccept } = require("./js_joinreq.js");
const [port, stopFile, token, joinEui, conns, ...devs] = process.argv.slice(2); // devs: "deveui:key:mac"
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MIN = 20;
let agents = Array.from({ length: +conns }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));

function post(slot, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: +port, path: "/", method: "POST", agent: agents[slot],
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token } }, (res) => {
      let d = ""; res.on("data", (c) => (d += c)); res.on("end", () => {
        try { resolve(JSON.parse(d)); } catch (e) { reject(new Error("bad body " + d)); } });
    });
    req.on("error", reject);
    req.setTimeout(10000, () => req.destroy(new Error("timeout")));
    req.end(body);
  });
}
let retries = 0;
async function postRetrying(slot, body) {
  for (let tries = 0; ; tries++) {
    try { return await post(slot, body); }
    catch (e) {
      if (tries > 200) throw e;
      retries++;
      agents[slot].destroy(); agents[slot] = new http.Agent({ keepAlive: true, maxSockets: 1 });
      await sleep(20);
    }
  }
}
const body = (dev, nonce, tx) => joinReqBody(joinEui, dev, nonce, tx);

(async () => {
  const list = devs.map((s) => { const [eui, key, mac] = s.split(":"); return { eui, key, mac, joinNonces: [] }; });
  const violations = [];
  let rounds = 0, requests = 0, refused = 0, tx = 1, lost = 0;
  while (rounds < MIN || !fs.existsSync(stopFile)) {
    rounds++;
    for (const dev of list) {
      const nonce = rounds; // the same DevNonce on every connection
      const before = retries;
      const answers = await Promise.all(agents.map((_, slot) => postRetrying(slot, body(dev, nonce, tx++))));
      // a connection cut by a kill may have taken the one answer of a
      // committed join with it (its retry is then refused): none is allowed
      // then, never two
      const cut = retries !== before;
      requests += answers.length;
      const won = answers.filter((a) => a.Result && a.Result.ResultCode === "Success");
      refused += answers.filter((a) => a.Result && a.Result.ResultCode === "JoinReqFailed").length;
      if (won.length > 1 || (won.length === 0 && !cut))
        violations.push(dev.mac + " DevNonce " + nonce + ": " + won.length + " successes");
      if (won.length === 0) lost++;
      for (const a of won) {
        const { micOk, joinNonce: jn } = openAccept(dev, a);
        if (!micOk) violations.push("bad accept MIC");
        const last = dev.joinNonces[dev.joinNonces.length - 1];
        if (last !== undefined && jn <= last) violations.push(dev.mac + " JoinNonce " + jn + " after " + last);
        dev.joinNonces.push(jn);
      }
    }
  }
  let n = 0;
  const t = (ok, msg) => console.log((ok ? "ok " : "not ok ") + ++n + " - " + msg);
  t(rounds >= MIN, rounds + " rounds of " + conns + " connections sending one DevNonce (" + requests + " requests, " + refused + " refused as replays, " + retries + " retried after a cut connection)");
  t(violations.length === 0, "one success per DevNonce (none only where a cut connection took it), JoinNonces strictly increase" + (violations.length ? ": " + violations.slice(0, 5).join("; ") : ""));
  for (const d of list) {
    const s = new Set(d.joinNonces);
    t(s.size === d.joinNonces.length && d.joinNonces.length >= rounds - lost, d.mac + ": " + d.joinNonces.length + " JoinNonces for " + rounds + " rounds, none repeated");
  }
  console.log("1.." + n);
  agents.forEach((a) => a.destroy());
  process.exit(violations.length ? 1 : 0);
})();
