// operators_ns.js - the network servers of tests/integration/operators.sh:
// each onboarded operator's NS, speaking Backend Interfaces to the
// bootstrap Join Server over HTTPS with its own credential (a bearer token
// or a TLS client certificate), for a secure element emulator.
//
//   node operators_ns.js join URL NETID AUTH OWN_KEK [OTHER_KEK...]
//     a join-request from the SE (SOCK) as JoinReq from NETID. Prints
//     {"result","kekLabel","own","others":[...],"accepted","micOk"}: on
//     Success the NwkSKey is unwrapped with node's id-aes128-wrap under
//     OWN_KEK (own: true when that works) and under each OTHER_KEK (false
//     expected), the join-accept goes into the SE, and an uplink of the SE
//     is MIC-checked with the unwrapped NwkSKey (micOk).
//   node operators_ns.js homens URL NETID AUTH DEVEUI
//     prints {"result","HNetID"}
//   AUTH: token:FILE | cert:CRT:KEY | none
// env: FERRY, SOCK, CA (the server's certificate), BI (1.0 default, or
// 1.1 with NSID as SenderNSID)
"use strict";
const { execFileSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const https = require("https");
const { AesCmac } = require("aes-cmac");
const H = (s) => Buffer.from(s, "hex");
const die = (m) => { console.error("operators_ns: " + m); process.exit(1); };
const BI = process.env.BI || "1.0";

function se(args) {
  return JSON.parse(execFileSync(process.env.FERRY, ["se", ...args, "--socket", process.env.SOCK], { encoding: "utf8" }));
}
function unwrap(kek, wrapped) {
  try {
    const d = crypto.createDecipheriv("id-aes128-wrap", H(kek), H("a6a6a6a6a6a6a6a6"));
    return Buffer.concat([d.update(H(wrapped)), d.final()]);
  } catch (e) {
    return null; // RFC 3394's integrity check: not wrapped under this KEK
  }
}
function post(url, auth, body) {
  const u = new URL(url);
  const opts = { method: "POST", hostname: u.hostname, port: u.port, path: u.pathname,
    headers: { "Content-Type": "application/json" }, ca: process.env.CA ? fs.readFileSync(process.env.CA) : undefined };
  const [kind, a, b] = auth.split(":");
  if (kind === "token") opts.headers.Authorization = "Bearer " + fs.readFileSync(a, "utf8").trim();
  else if (kind === "cert") { opts.cert = fs.readFileSync(a); opts.key = fs.readFileSync(b); }
  const data = JSON.stringify(body);
  opts.headers["Content-Length"] = Buffer.byteLength(data);
  return new Promise((resolve, reject) => {
    const req = https.request(opts, (res) => {
      let text = "";
      res.on("data", (c) => { text += c; });
      res.on("end", () => {
        try { resolve({ status: res.statusCode, body: JSON.parse(text) }); } catch (e) { reject(new Error(res.statusCode + " " + text)); }
      });
    });
    req.on("error", reject);
    req.end(data);
  });
}
function header(type, netId, receiver) {
  const h = { ProtocolVersion: BI, SenderID: netId, ReceiverID: receiver, TransactionID: Math.floor(Math.random() * 1e9),
    MessageType: type };
  if (BI === "1.1") h.SenderNSID = process.env.NSID;
  return h;
}

async function join(url, netId, auth, own, others) {
  const jr = se(["join-request"]).PHYPayload;
  const b = H(jr);
  const joinEui = Buffer.from(b.subarray(1, 9)).reverse().toString("hex").toUpperCase();
  const devEui = Buffer.from(b.subarray(9, 17)).reverse().toString("hex").toUpperCase();
  const devAddr = crypto.randomBytes(4).toString("hex").toUpperCase();
  const req = Object.assign(header("JoinReq", netId, joinEui),
    { MACVersion: "1.0.4", PHYPayload: jr, DevEUI: devEui, DevAddr: devAddr, DLSettings: "00", RxDelay: 1 });
  const r = await post(url, auth, req);
  if (r.status !== 200 || !r.body.Result) die("join: HTTP " + r.status + " " + JSON.stringify(r.body));
  const out = { result: r.body.Result.ResultCode, kekLabel: null, own: false, others: [], accepted: false, micOk: false,
    keys: r.body.NwkSKey !== undefined || r.body.AppSKey !== undefined || r.body.PHYPayload !== undefined };
  if (out.result === "Success") {
    out.kekLabel = r.body.NwkSKey && r.body.NwkSKey.KEKLabel;
    const nwk = unwrap(own, r.body.NwkSKey.AESKey);
    out.own = nwk !== null;
    out.others = others.map((k) => unwrap(k, r.body.NwkSKey.AESKey) !== null);
    se(["join-accept", r.body.PHYPayload]);
    out.accepted = true;
    if (nwk !== null) {
      const up = H(se(["uplink", "--fport", "1", "--payload", "00"]).PHYPayload);
      const msg = up.subarray(0, up.length - 4);
      const b0 = Buffer.alloc(16);
      b0[0] = 0x49; b0[5] = 0; H(devAddr).reverse().copy(b0, 6); b0.writeUInt32LE(up.readUInt16LE(6), 10); b0[15] = msg.length;
      const mic = new AesCmac(nwk).calculate(Buffer.concat([b0, msg])).subarray(0, 4);
      out.micOk = mic.equals(up.subarray(up.length - 4));
    }
  }
  console.log(JSON.stringify(out));
}

async function homens(url, netId, auth, devEui, joinEui) {
  const req = Object.assign(header("HomeNSReq", netId, joinEui), { DevEUI: devEui });
  const r = await post(url, auth, req);
  if (r.status !== 200 || !r.body.Result) die("homens: HTTP " + r.status + " " + JSON.stringify(r.body));
  console.log(JSON.stringify({ result: r.body.Result.ResultCode, HNetID: r.body.HNetID || "" }));
}

(async () => {
  const [cmd, ...a] = process.argv.slice(2);
  if (cmd === "join") await join(a[0], a[1], a[2], a[3], a.slice(4));
  else if (cmd === "homens") await homens(a[0], a[1], a[2], a[3], process.env.JOINEUI || "70B3D57ED0000000");
  else die("usage: join|homens ...");
})().catch((e) => die(e.stack || String(e)));
