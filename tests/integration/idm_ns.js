// idm_ns.js - the network-server stand-in (and device host) of
// tests/integration/idm_ota.sh. It drives an SE emulator with `ferry se`
// commands, relays its join-requests to a Join Server as Backend Interfaces
// JoinReq, and its uplinks to `ferry idm serve` per docs/ns-as.md; it builds
// the downlink frames around the IDM's encrypted FRMPayload (MIC with the
// NwkSKey it unwrapped from the JoinAns under its own NS KEK). It never
// holds the AppSKey. Its state (session keys of the NS) is kept in STATE,
// a file of the test's NS, outside the IDM's and the Join Servers' dirs.
//
//   node idm_ns.js join STATE JS_URL NS_TOKEN_FILE NS_KEK NETID
//   node idm_ns.js pump STATE IDM_URL IDM_TOKEN_FILE ROUNDS [until]
//        until: "switched" (stop when the SE left the bootstrap profile) or
//               "sent:N" (stop after N downlinks)
// env: FERRY (the binary), SOCK (the emulator's socket), MAXDL (default 51),
//      NS_MAC_VERSION (the MACVersion of the JoinReq, default 1.0.4; with 1.1
//      the Join Server answers a 1.1 device in 1.1 mode, and the downlinks'
//      MIC is under SNwkSIntKey)
"use strict";
const { execFileSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const { AesCmac } = require("aes-cmac");
const H = (s) => Buffer.from(s, "hex");
const die = (m) => { console.error("idm_ns: " + m); process.exit(1); };
const FERRY = process.env.FERRY, SOCK = process.env.SOCK;
const MAXDL = parseInt(process.env.MAXDL || "51", 10);

function se(args) {
  const out = execFileSync(FERRY, ["se", ...args, "--socket", SOCK], { encoding: "utf8" });
  return JSON.parse(out);
}
function unwrap(kek, wrapped) {
  const d = crypto.createDecipheriv("id-aes128-wrap", H(kek), H("a6a6a6a6a6a6a6a6"));
  return Buffer.concat([d.update(H(wrapped)), d.final()]);
}
async function post(url, tokenFile, body) {
  const tok = fs.readFileSync(tokenFile, "utf8").trim();
  const r = await fetch(url, { method: "POST", headers: { "Authorization": "Bearer " + tok, "Content-Type": "application/json" },
    body: JSON.stringify(body) });
  const text = await r.text();
  let j = {};
  try { j = JSON.parse(text); } catch (e) { j = { raw: text }; }
  return { status: r.status, body: j };
}

async function join(state, jsUrl, tokenFile, nsKek, netId) {
  const jr = se(["join-request"]).PHYPayload;
  const b = H(jr);
  const joinEui = Buffer.from(b.subarray(1, 9)).reverse().toString("hex").toUpperCase();
  const devEui = Buffer.from(b.subarray(9, 17)).reverse().toString("hex").toUpperCase();
  const devAddr = crypto.randomBytes(4).toString("hex").toUpperCase();
  const req = { ProtocolVersion: "1.0", SenderID: netId, ReceiverID: joinEui, TransactionID: Math.floor(Math.random() * 1e9),
    MessageType: "JoinReq", MACVersion: process.env.NS_MAC_VERSION || "1.0.4", PHYPayload: jr, DevEUI: devEui, DevAddr: devAddr, DLSettings: "00", RxDelay: 1 };
  const r = await post(jsUrl, tokenFile, req);
  if (r.status !== 200 || !r.body.Result || r.body.Result.ResultCode !== "Success")
    die("join: " + r.status + " " + JSON.stringify(r.body));
  const nk = r.body.NwkSKey || r.body.SNwkSIntKey; // 1.1: downlink MICs are under SNwkSIntKey
  if (!nk || !nk.KEKLabel) die("join: NwkSKey (SNwkSIntKey) not wrapped");
  const nwk = unwrap(nsKek, nk.AESKey).toString("hex");
  // A LoRaMac-node device beside the element takes the same accept (tests/loramac/lmn_twin.js).
  if (process.env.LMN_TWIN) execFileSync("node", [process.env.LMN_TWIN, jr, r.body.PHYPayload], { stdio: "inherit" });
  se(["join-accept", r.body.PHYPayload]);
  const st = { devEui, joinEui, devAddr, nwkSKey: nwk, sessionKeyId: r.body.SessionKeyID || "", fcntDown: 0 };
  fs.writeFileSync(state, JSON.stringify(st), { mode: 0o600 });
  console.log(JSON.stringify({ joined: joinEui, devEui }));
}

function downlinkPhy(st, fport, fcnt, frm) {
  const addr = H(st.devAddr).reverse();
  const f = Buffer.alloc(2); f.writeUInt16LE(fcnt & 0xffff);
  const msg = Buffer.concat([Buffer.from([0x60]), addr, Buffer.from([0x00]), f, Buffer.from([fport]), H(frm)]);
  const b0 = Buffer.alloc(16);
  b0[0] = 0x49; b0[5] = 1; addr.copy(b0, 6); b0.writeUInt32LE(fcnt >>> 0, 10); b0[15] = msg.length;
  const mic = new AesCmac(H(st.nwkSKey)).calculate(Buffer.concat([b0, msg])).subarray(0, 4);
  return Buffer.concat([msg, mic]).toString("hex");
}

async function pump(state, idmUrl, tokenFile, rounds, until) {
  const st = JSON.parse(fs.readFileSync(state, "utf8"));
  let sent = 0, switched = false;
  const wantSent = until && until.startsWith("sent:") ? parseInt(until.slice(5), 10) : -1;
  for (let i = 0; i < rounds; i++) {
    if (until === "switched") {
      const info = se(["info"]);
      if (info.ActiveSlot !== 0 && !info.Joined) { switched = true; break; }
    }
    const m = se(["mls-uplink", "--frame-max", String(MAXDL)]);
    let phy;
    try {
      phy = m.FRMPayload && m.FRMPayload.length > 0 ? se(["uplink", "--fport", "200", "--payload", m.FRMPayload]).PHYPayload
                                                     : se(["uplink", "--fport", "1", "--payload", "00"]).PHYPayload;
    } catch (e) {
      // The switch happens once the answer has left (docs/se-commands.md):
      // the element then has no session on the bootstrap network.
      const info = se(["info"]);
      if (until === "switched" && info.ActiveSlot !== 0 && !info.Joined) { switched = true; break; }
      throw e;
    }
    const b = H(phy);
    const foptsLen = b[5] & 0x0f;
    const fcnt16 = b.readUInt16LE(6);
    const fport = b[8 + foptsLen];
    const frm = b.subarray(9 + foptsLen, b.length - 4).toString("hex");
    st.fcntUp = fcnt16; // the emulator counts from 0; the test never wraps 16 bits
    const up = { DevEUI: st.devEui, DevAddr: st.devAddr, SessionKeyID: st.sessionKeyId, FCnt: fcnt16, FPort: fport,
      FRMPayload: frm, Confirmed: false, DR: 0, MaxDownlinkPayload: MAXDL, NextAFCntDown: st.fcntDown,
      RecvTime: new Date().toISOString() };
    const r = await post(idmUrl + "/uplink", tokenFile, up);
    if (r.status !== 200) die("uplink: " + r.status + " " + JSON.stringify(r.body));
    for (const d of r.body.Downlinks || []) {
      if (d.FCnt !== st.fcntDown) die("downlink FCnt " + d.FCnt + " != " + st.fcntDown);
      const dphy = downlinkPhy(st, d.FPort, d.FCnt, d.FRMPayload);
      se(["downlink", dphy]);
      st.fcntDown++;
      sent++;
    }
    fs.writeFileSync(state, JSON.stringify(st), { mode: 0o600 });
    if (wantSent >= 0 && sent >= wantSent) break;
    if (!(r.body.Downlinks || []).length) await new Promise((res) => setTimeout(res, 150));
  }
  if (until === "switched" && !switched) {
    const info = se(["info"]);
    switched = info.ActiveSlot !== 0 && !info.Joined;
  }
  console.log(JSON.stringify({ rounds, sent, switched }));
}

// An NS whose gateway has no air: k uplinks, every downlink the IDM answers
// with stays in this NS's queue (never reaches the element), and each uplink
// says how many it holds (DownlinkQueued). Prints how many the IDM made.
async function hold(state, idmUrl, tokenFile, k) {
  const st = JSON.parse(fs.readFileSync(state, "utf8"));
  let held = 0;
  for (let i = 0; i < k; i++) {
    const m = se(["mls-uplink", "--frame-max", String(MAXDL)]);
    const phy = m.FRMPayload && m.FRMPayload.length > 0 ? se(["uplink", "--fport", "200", "--payload", m.FRMPayload]).PHYPayload
                                                          : se(["uplink", "--fport", "1", "--payload", "00"]).PHYPayload;
    const b = H(phy);
    const foptsLen = b[5] & 0x0f;
    const up = { DevEUI: st.devEui, DevAddr: st.devAddr, SessionKeyID: st.sessionKeyId, FCnt: b.readUInt16LE(6),
      FPort: b[8 + foptsLen], FRMPayload: b.subarray(9 + foptsLen, b.length - 4).toString("hex"), Confirmed: false,
      DR: 0, MaxDownlinkPayload: MAXDL, NextAFCntDown: st.fcntDown, DownlinkQueued: held,
      RecvTime: new Date().toISOString() };
    const r = await post(idmUrl + "/uplink", tokenFile, up);
    if (r.status !== 200) die("uplink: " + r.status + " " + JSON.stringify(r.body));
    for (const d of r.body.Downlinks || []) {
      if (d.FCnt !== st.fcntDown) die("downlink FCnt " + d.FCnt + " != " + st.fcntDown);
      st.fcntDown++; // the NS numbered it; the queue then drops it (a gap the element accepts)
      held++;
    }
    fs.writeFileSync(state, JSON.stringify(st), { mode: 0o600 });
  }
  console.log(JSON.stringify({ uplinks: k, held }));
}

(async () => {
  const [cmd, ...a] = process.argv.slice(2);
  if (cmd === "join") await join(a[0], a[1], a[2], a[3], a[4]);
  else if (cmd === "pump") await pump(a[0], a[1], a[2], parseInt(a[3], 10), a[4]);
  else if (cmd === "hold") await hold(a[0], a[1], a[2], parseInt(a[3], 10));
  else die("usage: join|pump|hold ...");
})().catch((e) => die(e.stack || String(e)));
