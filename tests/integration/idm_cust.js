// idm_cust.js - a customer's network server and application server, as
// tests/integration/idm_ops.sh needs them: it drives an SE emulator with
// `ferry se` commands, joins it through the customer's Join Server (JoinReq
// over the Backend Interfaces: NwkSKey under the NS KEK, AppSKey under the
// AS KEK), decrypts the device's uplinks with the AppSKey as the customer's
// AS does, and relays the MLS frames of FPort 200 to the Identity Manager
// (POST /api/v1/ses/{DevEUI}/relay, the customer tenant's token) and its
// answers back as FPort 200 downlinks. MLS stays end to end between the IDM
// and the SE: this program sees only MLS ciphertext. Uplinks are decoded
// with lora-packet (an independent implementation); downlinks are built
// here (AES-CTR per LoRaWAN L2 4.3.3, MIC with aes-cmac).
//
//   node idm_cust.js join STATE JS_URL NS_TOKEN_FILE NS_KEK AS_KEK NETID
//   node idm_cust.js uplink STATE HEX        an application uplink on FPort 1, decrypted
//   node idm_cust.js relay STATE IDM_URL TENANT_TOKEN_FILE ROUNDS UNTIL
//        UNTIL: "switched" (the SE left this network's profile),
//               "quiet:N" (N rounds without a downlink and nothing to send)
//        A secure command reaching the SE's application is answered with
//        env REPLY (hex) and printed as "secure".
// env: FERRY, SOCK (the emulator's socket), MAXDL (default 51)
"use strict";
const { execFileSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const lora = require("lora-packet");
const { AesCmac } = require("aes-cmac");
const H = (s) => Buffer.from(s, "hex");
const die = (m) => { console.error("idm_cust: " + m); process.exit(1); };
const FERRY = process.env.FERRY, SOCK = process.env.SOCK;
const MAXDL = parseInt(process.env.MAXDL || "51", 10);

function se(args) {
  return JSON.parse(execFileSync(FERRY, ["se", ...args, "--socket", SOCK], { encoding: "utf8" }));
}
function unwrap(kek, wrapped) {
  const d = crypto.createDecipheriv("id-aes128-wrap", H(kek), H("a6a6a6a6a6a6a6a6"));
  return Buffer.concat([d.update(H(wrapped)), d.final()]);
}
async function post(url, tokenFile, body) {
  const tok = fs.readFileSync(tokenFile, "utf8").trim();
  const r = await fetch(url, { method: "POST", headers: { "Authorization": "Bearer " + tok,
    "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const text = await r.text();
  let j = {};
  try { j = JSON.parse(text); } catch (e) { j = { raw: text }; }
  return { status: r.status, body: j };
}

async function join(state, jsUrl, tokenFile, nsKek, asKek, netId) {
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
  // 1.1 (NS_MAC_VERSION=1.1): SNwkSIntKey for the downlink MICs and half of
  // the uplink's, FNwkSIntKey for the other half
  const nk = r.body.NwkSKey || r.body.SNwkSIntKey;
  if (!nk || !r.body.AppSKey) die("join: NwkSKey (or SNwkSIntKey) and AppSKey envelopes expected");
  // A LoRaMac-node device beside the element takes the same accept (tests/loramac/lmn_twin.js).
  if (process.env.LMN_TWIN) execFileSync("node", [process.env.LMN_TWIN, jr, r.body.PHYPayload], { stdio: "inherit" });
  se(["join-accept", r.body.PHYPayload]);
  const st = { devEui, joinEui, devAddr, nwkSKey: unwrap(nsKek, nk.AESKey).toString("hex"),
    appSKey: unwrap(asKek, r.body.AppSKey.AESKey).toString("hex"), fcntDown: 0 };
  if (r.body.FNwkSIntKey) st.fNwkSIntKey = unwrap(nsKek, r.body.FNwkSIntKey.AESKey).toString("hex");
  fs.writeFileSync(state, JSON.stringify(st), { mode: 0o600 });
  console.log(JSON.stringify({ joined: joinEui, devEui }));
}

// FRMPayload encryption, downlink direction (LoRaWAN L2 4.3.3).
function crypt(key, devAddrLE, fcnt, data) {
  const out = Buffer.alloc(data.length);
  const ecb = crypto.createCipheriv("aes-128-ecb", H(key), null);
  ecb.setAutoPadding(false);
  for (let i = 0; i < data.length; i += 16) {
    const a = Buffer.alloc(16);
    a[0] = 0x01; a[5] = 1; devAddrLE.copy(a, 6); a.writeUInt32LE(fcnt >>> 0, 10); a[15] = i / 16 + 1;
    const s = ecb.update(a);
    for (let k = 0; k < 16 && i + k < data.length; k++) out[i + k] = data[i + k] ^ s[k];
  }
  return out;
}
function downlinkPhy(st, fport, fcnt, plain) {
  const addr = H(st.devAddr).reverse();
  const f = Buffer.alloc(2); f.writeUInt16LE(fcnt & 0xffff);
  const msg = Buffer.concat([Buffer.from([0x60]), addr, Buffer.from([0x00]), f, Buffer.from([fport]),
    crypt(st.appSKey, addr, fcnt, plain)]);
  const b0 = Buffer.alloc(16);
  b0[0] = 0x49; b0[5] = 1; addr.copy(b0, 6); b0.writeUInt32LE(fcnt >>> 0, 10); b0[15] = msg.length;
  const mic = new AesCmac(H(st.nwkSKey)).calculate(Buffer.concat([b0, msg])).subarray(0, 4);
  return Buffer.concat([msg, mic]).toString("hex");
}

// An uplink as the NS hands it to the AS: MIC checked, FRMPayload decrypted.
function receive(st, phy) {
  const p = lora.fromWire(H(phy));
  // 1.1: ConfFCnt, TxDr and TxCh are 0 (no ACK; the emulator's defaults);
  // lora-packet takes FNwkSIntKey (B0 half) first, SNwkSIntKey (B1 half) second
  const ok = st.fNwkSIntKey ? lora.verifyMIC(p, H(st.fNwkSIntKey), H(st.nwkSKey), undefined, Buffer.alloc(4))
                            : lora.verifyMIC(p, H(st.nwkSKey));
  if (!ok) die("uplink MIC does not verify under the customer's NwkSKey");
  const fport = p.FPort === undefined || p.FPort.length === 0 ? null : p.FPort[0];
  const plain = fport === null ? Buffer.alloc(0) : lora.decrypt(p, H(st.appSKey), H(st.nwkSKey));
  return { fport, plain };
}

function uplink(state, hex) {
  const st = JSON.parse(fs.readFileSync(state, "utf8"));
  const phy = se(["uplink", "--fport", "1", "--payload", hex]).PHYPayload;
  const r = receive(st, phy);
  console.log(JSON.stringify({ fport: r.fport, decrypted: r.plain.toString("hex").toUpperCase() }));
}

async function relay(state, idmUrl, tokenFile, rounds, until) {
  const st = JSON.parse(fs.readFileSync(state, "utf8"));
  const quiet = until && until.startsWith("quiet:") ? parseInt(until.slice(6), 10) : -1;
  let sent = 0, switched = false, calm = 0, secure = null;
  for (let i = 0; i < rounds; i++) {
    const m = se(["mls-uplink", "--frame-max", String(MAXDL)]);
    const mls = m.FRMPayload && m.FRMPayload.length > 0;
    let phy;
    try {
      phy = se(mls ? ["uplink", "--fport", "200", "--payload", m.FRMPayload] : ["uplink", "--fport", "1", "--payload", "00"]).PHYPayload;
    } catch (e) {
      // the SE switched networks once its answer had left: no session here
      if (!se(["info"]).Joined) { switched = true; break; }
      throw e;
    }
    const up = receive(st, phy);
    const body = { FRMPayload: up.fport === 200 ? up.plain.toString("hex") : "", MaxDownlinkPayload: MAXDL };
    const r = await post(idmUrl + "/api/v1/ses/" + st.devEui + "/relay", tokenFile, body);
    if (r.status !== 200) die("relay: " + r.status + " " + JSON.stringify(r.body));
    if (r.body.FRMPayload) {
      const d = se(["downlink", downlinkPhy(st, 200, st.fcntDown, H(r.body.FRMPayload))]);
      st.fcntDown++;
      sent++;
      calm = 0;
      if (d.SecureCommandWaiting) {
        secure = se(["secure-command"]).Command;
        se(["secure-reply", "--reply", process.env.REPLY || "00"]);
      }
    } else if (!mls) {
      calm++;
    }
    fs.writeFileSync(state, JSON.stringify(st), { mode: 0o600 });
    if (until === "switched" && !se(["info"]).Joined) { switched = true; break; }
    if (quiet > 0 && calm >= quiet) break;
    if (!r.body.FRMPayload) await new Promise((res) => setTimeout(res, 100));
  }
  console.log(JSON.stringify({ rounds, sent, switched, secure }));
  if (until === "switched" && !switched) process.exit(2);
}

(async () => {
  const [cmd, ...a] = process.argv.slice(2);
  if (cmd === "join") await join(a[0], a[1], a[2], a[3], a[4], a[5]);
  else if (cmd === "uplink") uplink(a[0], a[1]);
  else if (cmd === "relay") await relay(a[0], a[1], a[2], parseInt(a[3], 10), a[4]);
  else die("usage: join|uplink|relay ...");
})().catch((e) => die(e.stack || String(e)));
