// idm_fleet.js - the network-server stand-in of tests/integration/idm_restart.sh
// for a whole fleet: it drives many SE emulators (`ferry se serve`) at once,
// speaking the emulator's socket protocol directly (docs/se-commands.md, "The
// emulator": 2-byte big-endian length, then the APDU; the answer likewise,
// with SW1 SW2 at its end) instead of spawning `ferry se` per call. Like
// idm_ns.js it relays join-requests to a Join Server as Backend Interfaces
// JoinReq (the NwkSKey unwrapped under its own NS KEK: the stand-in never has
// the AppSKey) and uplinks to `ferry idm serve` per docs/ns-as.md.
//
//   node idm_fleet.js join CONF      bootstrap join of every SE
//   node idm_fleet.js deliver CONF   pump uplinks of every SE concurrently
//                                    until it switched to its customer
//                                    profile, then join it at the customer JS
//
// CONF is a JSON file:
//   { "ses": [{"devEui": "...", "sock": "..."}], "state": FILE (the NS's
//     session state, written by join, read by deliver),
//     "bootstrap": {"url","tokenFile","kek","netId"},
//     "customer":  {"url","tokenFile","kek","netId"},
//     "idm": {"url","tokenFile"}, or {"urls": [...], "tokenFile"} for several
//       idm serve on one database (idm_pg_multi.sh): an SE's uplinks go to
//       them in turn, a retry to the next one,
//     "maxdl": 20, "lossUp": 0.1, "lossDown": 0.1, "seed": N,
//     "concurrency": 8,        at most this many HTTP requests at once
//     "interval": 1000,        ms between two uplinks of one SE (+-20%)
//     "deadline": 150,         seconds for the whole delivery
//     "stall": 30,             seconds without any downlink to any SE:
//                              the SEs not done are stuck
//     "maxUplinks": 1500,      uplinks per SE before it counts as stuck
//     "httpTimeout": 20 }      seconds for one HTTP request (the test
//                              scales it with FERRY_TEST_SLOW)
// The radio loss is a seeded PRNG. An uplink POST that fails (the IDM is
// down: connection refused or reset, or a 5xx) is retried by the stand-in
// like an NS would, then given up: the SE's next uplink carries its MLS state
// again. deliver prints one JSON line of counts and exits 0 when every SE
// switched and joined its customer JS, 1 otherwise (with the stuck SEs).
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const net = require("net");
const { AesCmac } = require("aes-cmac");
const H = (s) => Buffer.from(s, "hex");
const die = (m) => { console.error("idm_fleet: " + m); process.exit(1); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- seeded PRNG (mulberry32): loss and jitter are reproducible per seed
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- one emulator connection: one APDU outstanding at a time
class SE {
  constructor(path) { this.path = path; this.buf = Buffer.alloc(0); this.waiter = null; }
  open() {
    return new Promise((res, rej) => {
      this.sock = net.createConnection(this.path, () => res());
      this.sock.on("error", (e) => { if (this.waiter) { const w = this.waiter; this.waiter = null; w.rej(e); } else rej(e); });
      this.sock.on("data", (d) => { this.buf = Buffer.concat([this.buf, d]); this.feed(); });
      this.sock.on("close", () => { if (this.waiter) { const w = this.waiter; this.waiter = null; w.rej(new Error("emulator closed")); } });
    });
  }
  feed() {
    if (!this.waiter || this.buf.length < 2) return;
    const n = this.buf.readUInt16BE(0);
    if (this.buf.length < 2 + n) return;
    const r = this.buf.subarray(2, 2 + n);
    this.buf = this.buf.subarray(2 + n);
    const w = this.waiter; this.waiter = null;
    w.res(Buffer.from(r));
  }
  close() { if (this.sock) this.sock.end(); }
  // CLA INS P1 P2 [Lc data] Le=00, as se_client.c builds them
  async apdu(ins, p1, p2, data) {
    const parts = [Buffer.from([0x80, ins, p1, p2])];
    if (data && data.length) parts.push(Buffer.from([data.length]), data);
    parts.push(Buffer.from([0]));
    const cmd = Buffer.concat(parts);
    const hdr = Buffer.alloc(2); hdr.writeUInt16BE(cmd.length);
    const p = new Promise((res, rej) => { this.waiter = { res, rej }; });
    this.sock.write(Buffer.concat([hdr, cmd]));
    this.feed();
    const r = await p;
    if (r.length < 2) throw new Error("short APDU answer");
    const sw = r.readUInt16BE(r.length - 2);
    return { sw, data: r.subarray(0, r.length - 2) };
  }
  async ok(ins, p1, p2, data, what) {
    const r = await this.apdu(ins, p1, p2, data);
    if (r.sw !== 0x9000) { const e = new Error(what + ": SW " + r.sw.toString(16).toUpperCase()); e.sw = r.sw; throw e; }
    return r.data;
  }
  async info() {
    const r = await this.ok(0xca, 0, 0, null, "get info");
    if (r.length < 58) throw new Error("get info: " + r.length + " bytes"); // 61 since the last JoinNonce; the first 58 keep their offsets
    return { activeSlot: r[17], joinEui: r.subarray(19, 27).toString("hex").toUpperCase(), joined: (r[28] & 2) !== 0,
      mlsDown: r.readUInt32BE(51) };
  }
  joinRequest() { return this.ok(0x20, 0, 0, null, "join-request"); }
  joinAccept(phy) { return this.ok(0x22, 0, 0, phy, "join-accept"); }
  mlsUplink(max) { return this.ok(0x40, max, 0, null, "mls uplink"); }
  // PROTECT UPLINK: flags (FPort present), FPort, ConfFCnt, TxDr, TxCh, no FOpts, payload
  uplink(fport, payload) {
    return this.ok(0x30, 0, 0, Buffer.concat([Buffer.from([0x80, fport, 0, 0, 0, 0, 0]), payload]), "uplink");
  }
  downlink(phy) { return this.ok(0x31, 0, 0, phy, "downlink"); }
}

// ---- HTTP with a concurrency limit
let slots = 0;
const queue = [];
async function acquire(limit) {
  if (slots < limit) { slots++; return; }
  await new Promise((r) => queue.push(r));
}
function release() { const n = queue.shift(); if (n) n(); else slots--; }
let httpTimeoutMs = 20000;
async function post(url, token, body, limit) {
  await acquire(limit);
  try {
    const r = await fetch(url, { method: "POST", headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify(body), signal: AbortSignal.timeout(httpTimeoutMs) });
    const text = await r.text();
    let j = {};
    try { j = JSON.parse(text); } catch (e) { j = { raw: text }; }
    return { status: r.status, body: j };
  } finally { release(); }
}

function unwrap(kek, wrapped) {
  const d = crypto.createDecipheriv("id-aes128-wrap", H(kek), H("a6a6a6a6a6a6a6a6"));
  return Buffer.concat([d.update(H(wrapped)), d.final()]);
}
function downlinkPhy(st, fport, fcnt, frm) {
  const addr = H(st.devAddr).reverse();
  const f = Buffer.alloc(2); f.writeUInt16LE(fcnt & 0xffff);
  const msg = Buffer.concat([Buffer.from([0x60]), addr, Buffer.from([0x00]), f, Buffer.from([fport]), H(frm)]);
  const b0 = Buffer.alloc(16);
  b0[0] = 0x49; b0[5] = 1; addr.copy(b0, 6); b0.writeUInt32LE(fcnt >>> 0, 10); b0[15] = msg.length;
  const mic = new AesCmac(H(st.nwkSKey)).calculate(Buffer.concat([b0, msg])).subarray(0, 4);
  return Buffer.concat([msg, mic]);
}

// One join through a Join Server (as idm_ns.js join), retried a few times.
async function joinOne(se, js, token, rnd, limit) {
  let last = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const jr = await se.joinRequest();
    const joinEui = Buffer.from(jr.subarray(1, 9)).reverse().toString("hex").toUpperCase();
    const devEui = Buffer.from(jr.subarray(9, 17)).reverse().toString("hex").toUpperCase();
    const devAddr = Math.floor(rnd() * 0xffffffff).toString(16).padStart(8, "0").toUpperCase();
    const req = { ProtocolVersion: "1.0", SenderID: js.netId, ReceiverID: joinEui, TransactionID: Math.floor(rnd() * 1e9),
      MessageType: "JoinReq", MACVersion: "1.0.4", PHYPayload: jr.toString("hex").toUpperCase(), DevEUI: devEui,
      DevAddr: devAddr, DLSettings: "00", RxDelay: 1 };
    let r;
    try { r = await post(js.url, token, req, limit); } catch (e) { last = String(e); await sleep(200); continue; }
    if (r.status !== 200 || !r.body.Result || r.body.Result.ResultCode !== "Success" || !r.body.NwkSKey) {
      last = r.status + " " + JSON.stringify(r.body);
      await sleep(200);
      continue;
    }
    const nwk = unwrap(js.kek, r.body.NwkSKey.AESKey).toString("hex");
    await se.joinAccept(H(r.body.PHYPayload));
    return { devEui, joinEui, devAddr, nwkSKey: nwk, sessionKeyId: r.body.SessionKeyID || "", fcntDown: 0 };
  }
  throw new Error("join failed: " + last);
}

async function openAll(conf) {
  const ses = [];
  for (const s of conf.ses) { const se = new SE(s.sock); await se.open(); ses.push(se); }
  return ses;
}

async function join(conf) {
  const rnd = prng(conf.seed ^ 0x5eed);
  const token = fs.readFileSync(conf.bootstrap.tokenFile, "utf8").trim();
  const ses = await openAll(conf);
  const state = {};
  await Promise.all(ses.map(async (se, i) => {
    state[conf.ses[i].devEui] = await joinOne(se, conf.bootstrap, token, rnd, conf.concurrency || 8);
  }));
  fs.writeFileSync(conf.state, JSON.stringify(state), { mode: 0o600 });
  ses.forEach((se) => se.close());
  console.log(JSON.stringify({ joined: Object.keys(state).length }));
}

async function deliver(conf) {
  const rnd = prng(conf.seed);
  const state = JSON.parse(fs.readFileSync(conf.state, "utf8"));
  const idmToken = fs.readFileSync(conf.idm.tokenFile, "utf8").trim();
  const idmUrls = conf.idm.urls || [conf.idm.url];
  const custToken = fs.readFileSync(conf.customer.tokenFile, "utf8").trim();
  const maxdl = conf.maxdl || 20, lossUp = conf.lossUp || 0, lossDown = conf.lossDown || 0;
  const limit = conf.concurrency || 8, maxUp = conf.maxUplinks || 1500;
  const end = Date.now() + (conf.deadline || 150) * 1000;
  const interval = conf.interval || 1000, stallMs = (conf.stall || 30) * 1000;
  let lastProgress = Date.now();
  const c = { uplinks: 0, posted: 0, postFailed: 0, retried: 0, givenUp: 0, lostUp: 0, downlinks: 0, lostDown: 0,
    switched: 0, customerJoined: 0 };
  const stuck = [];
  const ses = await openAll(conf);
  await Promise.all(ses.map(async (se, i) => {
    const dev = conf.ses[i].devEui, st = state[dev];
    let n = 0;
    await sleep(rnd() * interval); // not all in lock-step
    try {
      for (;;) {
        const info = await se.info();
        if (info.activeSlot !== 0 && !info.joined) break; // switched: it joins its customer JS next
        if (n >= maxUp || Date.now() > end || Date.now() - lastProgress > stallMs) {
          stuck.push({ dev, uplinks: n, info });
          return;
        }
        const t0 = Date.now();
        const m = await se.mlsUplink(maxdl);
        let phy;
        try {
          phy = m.length > 0 ? await se.uplink(200, m) : await se.uplink(1, Buffer.from([0]));
        } catch (e) {
          // The switch happens once the answer has left: no bootstrap session any more.
          if (e.sw !== 0x6986) throw e;
          const again = await se.info();
          if (again.activeSlot !== 0 && !again.joined) continue;
          throw e;
        }
        n++; c.uplinks++;
        const pace = () => sleep(Math.max(0, interval * (0.8 + 0.4 * rnd()) - (Date.now() - t0)));
        if (rnd() < lossUp) { c.lostUp++; await pace(); continue; }
        const foptsLen = phy[5] & 0x0f;
        const fcnt16 = phy.readUInt16LE(6);
        const up = { DevEUI: st.devEui, DevAddr: st.devAddr, SessionKeyID: st.sessionKeyId, FCnt: fcnt16,
          FPort: phy[8 + foptsLen], FRMPayload: phy.subarray(9 + foptsLen, phy.length - 4).toString("hex"),
          Confirmed: false, DR: 0, MaxDownlinkPayload: maxdl, NextAFCntDown: st.fcntDown, RecvTime: new Date().toISOString() };
        let r = null;
        for (let attempt = 0; attempt < 4 && r === null; attempt++) {
          if (attempt > 0) { c.retried++; await sleep(150 + rnd() * 250); }
          try {
            c.posted++;
            // several IDM instances (idm.urls): each uplink of an SE goes to
            // the next one, and a retry to the one after (a dead instance's
            // uplinks reach the others)
            const x = await post(idmUrls[(n + attempt) % idmUrls.length] + "/uplink", idmToken, up, limit);
            if (x.status >= 500) { c.postFailed++; continue; }
            if (x.status !== 200) throw new Error("uplink answered " + x.status + " " + JSON.stringify(x.body));
            r = x;
          } catch (e) {
            if (String(e).includes("uplink answered")) throw e;
            c.postFailed++; // the IDM is down (refused, reset, timeout)
          }
        }
        if (r === null) { c.givenUp++; await pace(); continue; }
        const dls = r.body.Downlinks || [];
        for (const d of dls) {
          if (d.FCnt !== st.fcntDown) throw new Error("downlink FCnt " + d.FCnt + " != " + st.fcntDown);
          st.fcntDown++; // on the air: counted whether or not it arrives
          c.downlinks++;
          if (rnd() < lossDown) { c.lostDown++; continue; }
          await se.downlink(downlinkPhy(st, d.FPort, d.FCnt, d.FRMPayload));
          lastProgress = Date.now();
        }
        await pace();
      }
      c.switched++;
      const cs = await joinOne(se, conf.customer, custToken, rnd, limit);
      if (cs.joinEui !== conf.customer.joinEui) throw new Error("joined " + cs.joinEui + ", not the customer's JoinEUI");
      c.customerJoined++;
      lastProgress = Date.now();
    } catch (e) {
      stuck.push({ dev, uplinks: n, error: String(e && e.message || e) });
    }
  }));
  ses.forEach((se) => se.close());
  console.log(JSON.stringify(c));
  for (const s of stuck) console.error("idm_fleet: not done: " + JSON.stringify(s));
  process.exitCode = stuck.length === 0 ? 0 : 1;
}

(async () => {
  const [cmd, file] = process.argv.slice(2);
  if (!file) die("usage: join|deliver CONF");
  const conf = JSON.parse(fs.readFileSync(file, "utf8"));
  if (conf.httpTimeout) httpTimeoutMs = conf.httpTimeout * 1000;
  if (cmd === "join") await join(conf);
  else if (cmd === "deliver") await deliver(conf);
  else die("usage: join|deliver CONF");
})().catch((e) => die(e.stack || String(e)));
