// js_oracle.js - the independent side of tests/integration/js_serve.sh and
// js_kill.sh: builds join-requests with lora-packet, checks JoinAns with
// lora-packet (decryption, MIC, session-key derivation) and node's OpenSSL
// (RFC 3394 unwrap of every KeyEnvelope). Never uses ferry's code.
//
//   node js_oracle.js jr KEY JOINEUI DEVEUI DEVNONCE          -> PHYPayload hex
//   node js_oracle.js body TYPE PV SENDER MAC PHY DEVEUI      -> BI JSON
//   node js_oracle.js wrap KEK KEY                             -> hex
//   node js_oracle.js check10 ANS.json APPKEY NETID DEVNONCE NSKEK [ASKEK]
//   node js_oracle.js check11 ANS.json NWK APP JOINEUI DEVEUI DEVNONCE NSKEK ASKEK
//   node js_oracle.js unwrap_eq ANS.json FIELD KEK KEYHEX
//   node js_oracle.js rj TYPE KEY NETID|JOINEUI DEVEUI RJCOUNT   -> rejoin-request PHYPayload hex
//       (type 1: KEY is the NwkKey and the MIC is under its JSIntKey; types
//       0 and 2: KEY is the session's SNwkSIntKey)
//   node js_oracle.js check_rj ANS.json NWK APP JOINEUI DEVEUI RJTYPE RJCOUNT NSKEK ASKEK
// check* print the session keys (hex, space separated) on success so that the
// caller can later scan the run's files for them; they exit 1 with a reason.
"use strict";
const lp = require("lora-packet");
const crypto = require("crypto");
const fs = require("fs");
const H = (s) => Buffer.from(s, "hex");
const die = (m) => { console.error(m); process.exit(1); };

function unwrap(kek, wrapped) {
  const d = crypto.createDecipheriv("id-aes128-wrap", H(kek), H("a6a6a6a6a6a6a6a6"));
  return Buffer.concat([d.update(H(wrapped)), d.final()]);
}
function wrap(kek, key) {
  const c = crypto.createCipheriv("id-aes128-wrap", H(kek), H("a6a6a6a6a6a6a6a6"));
  return Buffer.concat([c.update(H(key)), c.final()]);
}
function env(ans, field, kek, want) {
  const e = ans[field];
  if (!e || !e.KEKLabel || !e.AESKey) die(field + ": missing or clear");
  const got = unwrap(kek, e.AESKey);
  if (!got.equals(want)) die(field + ": unwrapped key differs from lora-packet's derivation");
}
function accept(ans, key) {
  if (!ans.Result || ans.Result.ResultCode !== "Success") die("not Success: " + JSON.stringify(ans.Result));
  const p = lp.fromWire(H(ans.PHYPayload));
  return lp.fromWire(lp.decryptJoinAccept(p, H(key)));
}

const [cmd, ...a] = process.argv.slice(2);
if (cmd === "jr") {
  const p = lp.fromFields({ MType: "Join Request", AppEUI: H(a[1]), DevEUI: H(a[2]), DevNonce: H(a[3]) },
    undefined, undefined, H(a[0]));
  process.stdout.write(p.getPHYPayload().toString("hex"));
} else if (cmd === "body") {
  const [type, pv, sender, mac, phy, deveui] = a;
  const o = { ProtocolVersion: pv, SenderID: sender, ReceiverID: process.env.JOINEUI, TransactionID: Math.floor(Math.random() * 1e9),
    MessageType: type };
  if (pv === "1.1") o.SenderNSID = "00000000000000" + sender.slice(-2);
  if (type === "HomeNSReq") o.DevEUI = deveui;
  else Object.assign(o, { MACVersion: mac, PHYPayload: phy, DevEUI: deveui, DevAddr: "26011234", DLSettings: "03", RxDelay: 1 });
  process.stdout.write(JSON.stringify(o));
} else if (cmd === "wrap") {
  process.stdout.write(wrap(a[0], a[1]).toString("hex"));
} else if (cmd === "check10") {
  const [file, appkey, netid, devnonce, nskek, askek] = a;
  const ans = JSON.parse(fs.readFileSync(file, "utf8"));
  const d = accept(ans, appkey);
  if (!lp.verifyMIC(d, undefined, H(appkey))) die("join-accept MIC (1.0) does not verify");
  if (d.getDLSettingsOptNeg()) die("OptNeg set for a 1.0 join");
  if (d.NetID.toString("hex") !== netid.toLowerCase()) die("NetID " + d.NetID.toString("hex"));
  if (d.DevAddr.toString("hex") !== "26011234") die("DevAddr");
  const k = lp.generateSessionKeys10(H(appkey), d.NetID, d.AppNonce, H(devnonce));
  env(ans, "NwkSKey", nskek, k.NwkSKey);
  if (askek) env(ans, "AppSKey", askek, k.AppSKey);
  if (!ans.SessionKeyID) die("no SessionKeyID");
  process.stdout.write(d.AppNonce.toString("hex") + " " + k.NwkSKey.toString("hex") + " " + k.AppSKey.toString("hex"));
} else if (cmd === "check11") {
  const [file, nwk, app, joineui, deveui, devnonce, nskek, askek] = a;
  const ans = JSON.parse(fs.readFileSync(file, "utf8"));
  const d = accept(ans, nwk);
  if (!d.getDLSettingsOptNeg()) die("OptNeg not set for a 1.1 join");
  const js = lp.generateJSKeys(H(nwk), H(deveui));
  d.JoinReqType = H("ff");
  d.JoinEUI = H(joineui);
  d.DevNonce = H(devnonce);
  if (!lp.verifyMIC(d, js.JSIntKey, undefined)) die("join-accept MIC (1.1, JSIntKey) does not verify");
  const k = lp.generateSessionKeys11(H(app), H(nwk), H(joineui), d.AppNonce, H(devnonce));
  env(ans, "FNwkSIntKey", nskek, k.FNwkSIntKey);
  env(ans, "SNwkSIntKey", nskek, k.SNwkSIntKey);
  env(ans, "NwkSEncKey", nskek, k.NwkSEncKey);
  env(ans, "AppSKey", askek, k.AppSKey);
  if (ans.NwkSKey) die("NwkSKey in a 1.1 answer");
  process.stdout.write(d.AppNonce.toString("hex") + " " + [k.FNwkSIntKey, k.SNwkSIntKey, k.NwkSEncKey, k.AppSKey,
    js.JSIntKey, js.JSEncKey].map((b) => b.toString("hex")).join(" "));
} else if (cmd === "rj") {
  const [type, key, id, deveui, count] = a;
  const t = parseInt(type, 10);
  const le = (hex) => Buffer.from(H(hex)).reverse();
  const body = t === 1 ? Buffer.concat([Buffer.from([1]), le(id), le(deveui), le(count)])
                       : Buffer.concat([Buffer.from([t]), le(id), le(deveui), le(count)]);
  const frame = Buffer.concat([Buffer.from([0xc0]), body, Buffer.alloc(4)]);
  const p = lp.fromWire(frame);
  const mic = t === 1 ? lp.calculateMIC(p, undefined, lp.generateJSKeys(H(key), H(deveui)).JSIntKey)
                      : lp.calculateMIC(p, H(key), undefined);
  process.stdout.write(Buffer.concat([frame.slice(0, frame.length - 4), mic]).toString("hex"));
} else if (cmd === "check_rj") {
  // A RejoinAns as a 1.1 device reads it: the accept under JSEncKey, its MIC
  // under JSIntKey over JoinReqType (the rejoin type), JoinEUI and RJcount,
  // the session keys derived with RJcount in DevNonce's place.
  const [file, nwk, app, joineui, deveui, rjtype, rjcount, nskek, askek] = a;
  const ans = JSON.parse(fs.readFileSync(file, "utf8"));
  const js = lp.generateJSKeys(H(nwk), H(deveui));
  if (!ans.Result || ans.Result.ResultCode !== "Success") die("not Success: " + JSON.stringify(ans.Result));
  const d = lp.fromWire(lp.decryptJoinAccept(lp.fromWire(H(ans.PHYPayload)), js.JSEncKey));
  if (!d.getDLSettingsOptNeg()) die("OptNeg not set in a 1.1 RejoinAns");
  d.JoinReqType = Buffer.from([parseInt(rjtype, 10)]);
  d.JoinEUI = H(joineui);
  d.DevNonce = H(rjcount);
  if (!lp.verifyMIC(d, js.JSIntKey, undefined)) die("join-accept MIC (JSIntKey, JoinReqType " + rjtype + ") does not verify");
  const k = lp.generateSessionKeys11(H(app), H(nwk), H(joineui), d.AppNonce, H(rjcount));
  env(ans, "FNwkSIntKey", nskek, k.FNwkSIntKey);
  env(ans, "SNwkSIntKey", nskek, k.SNwkSIntKey);
  env(ans, "NwkSEncKey", nskek, k.NwkSEncKey);
  env(ans, "AppSKey", askek, k.AppSKey);
  process.stdout.write(d.AppNonce.toString("hex") + " " + k.SNwkSIntKey.toString("hex"));
} else if (cmd === "unwrap_eq") {
  const [file, field, kek, want] = a;
  const ans = JSON.parse(fs.readFileSync(file, "utf8"));
  env(ans, field, kek, H(want));
} else {
  die("unknown command " + cmd);
}
