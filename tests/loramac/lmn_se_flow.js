// lmn_se_flow.js - one device running LoRaMac-node's unmodified crypto on
// ferry's element through ports/loramac-node/ferry-se (tests/loramac/lmn_se.c),
// against a real ferry Join Server over Backend Interfaces HTTP. Every frame
// the device makes is checked by lora-packet and node's crypto (never by
// ferry's code) and by `ferry lorawan decode`; every frame it takes was
// built by the Join Server or by lora-packet.
//
//   node lmn_se_flow.js CONFIG.json
// CONFIG: {"cmd":[program, args...] (lmn_se ... NVM -), "ferry":PATH,
//   "js":URL, "nsToken":TOKEN, "netId":HEX6, "batchLine":JSON of the device
//   (keys wrapped under the HSA KEK), "hsaKek","nsKek","asKek":HEX,
//   "cflist":true|false}
// Prints one line per check: "CHECK 0|1 description" (1 = passed), and
// "# ..." notes. The keys it learns (unwrapping what the test's KEKs
// protect) never go to the device: it has only its element.
"use strict";
const lp = require("lora-packet");
const { decryptFOpts } = require("lora-packet/out/lib/crypto");
const { AesCmac } = require("aes-cmac");
const crypto = require("crypto");
const { spawn, execFileSync } = require("child_process");
const fs = require("fs");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const H = (s) => Buffer.from(s, "hex");
const X = (b) => Buffer.from(b).toString("hex").toUpperCase();
const rev = (b) => Buffer.from(b).reverse();
let failures = 0;
function check(ok, what) {
  if (!ok) failures++;
  console.log(`CHECK ${ok ? 1 : 0} ${what}`);
}
function unwrap(kek, wrapped) {
  const d = crypto.createDecipheriv("id-aes128-wrap", H(kek), H("a6a6a6a6a6a6a6a6"));
  return Buffer.concat([d.update(H(wrapped)), d.final()]);
}
function aesEnc(key, block) {
  const c = crypto.createCipheriv("aes-128-ecb", key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}
function aesDec(key, block) {
  const c = crypto.createDecipheriv("aes-128-ecb", key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}
const cmac4 = (key, msg) => Buffer.from(new AesCmac(key).calculate(msg)).subarray(0, 4);
function b0(tag4, dir, addr, fcnt, len) {
  const b = Buffer.alloc(16);
  b[0] = 0x49;
  tag4.copy(b, 1);
  b[5] = dir;
  b.writeUInt32LE(addr, 6);
  b.writeUInt32LE(fcnt >>> 0, 10);
  b[15] = len;
  return b;
}
function decode(phy, args) {
  try {
    return JSON.parse(execFileSync(cfg.ferry, ["lorawan", "decode", phy, ...args], { encoding: "utf8" }));
  } catch (e) {
    return { error: String(e.stderr || e) };
  }
}

// ---- the device: one lmn_se process, commands on its stdin
const dev = spawn(cfg.cmd[0], cfg.cmd.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
let buf = "";
let waiting = null;
dev.stdout.on("data", (d) => {
  buf += d;
  let i;
  while (waiting && (i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const o = JSON.parse(line);
    if ("Exit" in o) {
      const w = waiting;
      waiting = null;
      w.resolve({ exit: o.Exit, out: w.lines });
    } else waiting.lines.push(o);
  }
});
function run(line) {
  return new Promise((resolve) => {
    waiting = { resolve, lines: [] };
    dev.stdin.write(line + "\n");
  });
}

let txn = 1000;
async function bi(type, phy, devEui, mac, extra) {
  txn++;
  const body = Object.assign(
    { ProtocolVersion: "1.1", SenderID: cfg.netId, ReceiverID: cfg.joinEui, TransactionID: txn, MessageType: type,
      SenderNSID: "0000000000000000", MACVersion: mac, PHYPayload: phy, DevEUI: devEui, DevAddr: cfg.devAddr,
      DLSettings: "00", RxDelay: 1 }, extra || {});
  const r = await fetch(cfg.js, { method: "POST", headers: { Authorization: "Bearer " + cfg.nsToken,
    "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return r.json();
}

async function main() {
  const line = JSON.parse(cfg.batchLine);
  const v11 = line.MACVersion === "1.1";
  const mac = line.MACVersion;
  const nwkKey = unwrap(cfg.hsaKek, line.NwkKey.AESKey);
  const appKey = unwrap(cfg.hsaKek, line.AppKey.AESKey);
  cfg.joinEui = line.JoinEUI;
  const tag = `${line.DevEUI} (${mac})`;

  let r = await run("info");
  const info = r.out[0] || {};
  check(r.exit === 0 && info.DevEUI === line.DevEUI && info.JoinEUI === line.JoinEUI && info.NextDevNonce === 0,
    `${tag}: SecureElementInit/FerrySeGetInfo read DevEUI and JoinEUI from the element`);

  // ---- join-request: LoRaMacCryptoPrepareJoinRequest through the driver
  r = await run("join-request");
  const jr = r.out[0] || {};
  let p = jr.PHYPayload ? lp.fromWire(H(jr.PHYPayload)) : null;
  check(r.exit === 0 && p && p.isJoinRequestMessage() && X(p.AppEUI) === line.JoinEUI && X(p.DevEUI) === line.DevEUI &&
    jr.DevNonce === 0 && lp.verifyMIC(p, undefined, nwkKey),
    `${tag}: join-request with the element's DevNonce 0, MIC under NwkKey (lora-packet)`);
  let d = decode(jr.PHYPayload, ["--nwkkey", X(nwkKey)]);
  check(d.MICValid === true, `${tag}: join-request MIC valid for ferry lorawan decode`);

  // ---- the Join Server's answer, the device takes the first one
  const cflist = cfg.cflist ? { CFList: "184F84E85684B85E84886684586E8400" } : {};
  let ans = await bi("JoinReq", jr.PHYPayload, line.DevEUI, mac, cflist);
  check(ans.Result && ans.Result.ResultCode === "Success", `${tag}: the Join Server answers the JoinReq (${JSON.stringify(ans.Result)})`);
  const ja = H(ans.PHYPayload || "");
  check(ja.length === (cfg.cflist ? 33 : 17), `${tag}: join-accept of ${ja.length} bytes (CFList ${cfg.cflist ? "present" : "absent"})`);
  r = await run(`join-accept ${X(ja)}`);
  const acc = r.out[0] || {};
  check(r.exit === 0 && acc.Accepted === true && acc.JoinNonce === 1 && acc.OptNeg === (v11 ? 1 : 0),
    `${tag}: the first join-accept taken by LoRaMac-node through the element (JoinNonce ${acc.JoinNonce}, OptNeg ${acc.OptNeg})`);
  const devAddr = parseInt(acc.DevAddr || "0", 16);
  const pa = lp.fromWire(ja);
  const dec = lp.fromWire(lp.decryptJoinAccept(pa, nwkKey));
  const joinNonce = dec.AppNonce, netId = dec.NetID, devNonce = Buffer.from([0, 0]);
  let k;
  if (v11) {
    k = lp.generateSessionKeys11(appKey, nwkKey, H(line.JoinEUI), joinNonce, devNonce);
    const got = {
      FNwkSIntKey: unwrap(cfg.nsKek, ans.FNwkSIntKey.AESKey), SNwkSIntKey: unwrap(cfg.nsKek, ans.SNwkSIntKey.AESKey),
      NwkSEncKey: unwrap(cfg.nsKek, ans.NwkSEncKey.AESKey), AppSKey: unwrap(cfg.asKek, ans.AppSKey.AESKey) };
    check(got.FNwkSIntKey.equals(k.FNwkSIntKey) && got.SNwkSIntKey.equals(k.SNwkSIntKey) &&
      got.NwkSEncKey.equals(k.NwkSEncKey) && got.AppSKey.equals(k.AppSKey),
      `${tag}: the Join Server's session keys are lora-packet's derivation`);
  } else {
    k = lp.generateSessionKeys10(nwkKey, netId, joinNonce, devNonce);
    const ns = unwrap(cfg.nsKek, ans.NwkSKey.AESKey), as = unwrap(cfg.asKek, ans.AppSKey.AESKey);
    check(ns.equals(k.NwkSKey) && as.equals(k.AppSKey), `${tag}: the Join Server's session keys are lora-packet's derivation`);
    k = { FNwkSIntKey: k.NwkSKey, SNwkSIntKey: k.NwkSKey, NwkSEncKey: k.NwkSKey, AppSKey: k.AppSKey };
  }
  r = await run("info");
  check(r.exit === 0 && r.out[0].Joined === true && r.out[0].LastJoinNonce === 1 && r.out[0].NextDevNonce === 1,
    `${tag}: GET INFO: joined, last JoinNonce 1, next DevNonce 1`);
  const keyArgs = v11
    ? ["--mac-version", "1.1", "--fnwksintkey", X(k.FNwkSIntKey), "--snwksintkey", X(k.SNwkSIntKey),
       "--nwksenckey", X(k.NwkSEncKey), "--appskey", X(k.AppSKey)]
    : ["--mac-version", "1.0.4", "--nwkskey", X(k.FNwkSIntKey), "--appskey", X(k.AppSKey)];

  // ---- uplinks: LoRaMacCryptoSecureMessage
  async function uplink(args, fport, payload, fopts, dr, ch) {
    const rr = await run(`uplink --fport ${fport} ${payload ? "--payload " + payload : ""} ${fopts ? "--fopts " + fopts : ""} --dr ${dr} --ch ${ch} ${args}`);
    const o = rr.out[0] || {};
    if (rr.exit !== 0 || !o.PHYPayload) return { ok: false, why: JSON.stringify(o) };
    const phy = H(o.PHYPayload), pk = lp.fromWire(phy);
    const msg = phy.subarray(0, phy.length - 4), mic = phy.subarray(phy.length - 4);
    const fcnt = o.FCnt;
    const micF = cmac4(k.FNwkSIntKey, Buffer.concat([b0(Buffer.alloc(4), 0, devAddr, fcnt, msg.length), msg]));
    let want = micF;
    if (v11) {
      const t = Buffer.from([0, 0, dr, ch]);
      const micS = cmac4(k.SNwkSIntKey, Buffer.concat([b0(t, 0, devAddr, fcnt, msg.length), msg]));
      want = Buffer.concat([micS.subarray(0, 2), micF.subarray(0, 2)]);
    }
    const plain = payload ? lp.decrypt(pk, k.AppSKey, fport === 0 ? k.NwkSEncKey : k.NwkSEncKey) : Buffer.alloc(0);
    const fo = fopts ? (v11 ? decryptFOpts(pk, k.NwkSEncKey) : pk.FOpts) : Buffer.alloc(0);
    const dd = decode(o.PHYPayload, [...keyArgs, "--tx-dr", String(dr), "--tx-ch", String(ch)]);
    return { ok: mic.equals(want) && X(plain) === (payload || "") && X(fo) === (fopts || "") && dd.MICValid === true,
      why: `mic ${X(mic)} want ${X(want)} plain ${X(plain)} fopts ${X(fo)} ferry ${JSON.stringify(dd.MICValid)}`, pk };
  }
  let u = await uplink("", 1, "0102030405", "", 0, 0);
  check(u.ok, `${tag}: uplink FPort 1: MIC and AppSKey encryption (node crypto, lora-packet, ferry lorawan decode) ${u.ok ? "" : u.why}`);
  u = await uplink("--confirmed", 0, "0203", "", 5, 1);
  check(u.ok, `${tag}: confirmed uplink FPort 0: MAC commands under NwkSEncKey ${u.ok ? "" : u.why}`);
  if (v11) {
    u = await uplink("", 7, "AA", "0302", 3, 2);
    check(u.ok, `${tag}: uplink with FOpts (1.1: encrypted under NwkSEncKey) and TxDr 3, TxCh 2 in B1 ${u.ok ? "" : u.why}`);
  } else {
    u = await uplink("", 7, "AA", "0302", 3, 2);
    check(u.ok, `${tag}: uplink with FOpts (1.0: clear) ${u.ok ? "" : u.why}`);
  }

  // ---- downlinks: built by lora-packet, opened by LoRaMacCryptoUnsecureMessage
  async function downlink(fcnt, fport, payload, fopts) {
    const fields = { MType: "Unconfirmed Data Down", DevAddr: Buffer.from(acc.DevAddr, "hex"), FCnt: fcnt,
      FCtrl: { ADR: false, ACK: false, ADRACKReq: false, FPending: false }, FPort: fport, payload: H(payload) };
    if (fopts) fields.FOpts = H(fopts);
    // lora-packet encrypts FRMPayload (AppSKey, or NwkSKey for FPort 0)
    let pk = lp.fromFields(fields, k.AppSKey, fport === 0 ? k.NwkSEncKey : k.NwkSEncKey);
    let phy = Buffer.from(pk.getPHYPayload());
    if (v11 && fopts) {
      // 1.1.1 FOpts encryption: A block 01 | 000000 | 01 (NFCntDown) or 02
      // (AFCntDown, FPort > 0) | dir 1 | DevAddr | FCnt | 00 | 01
      const a = Buffer.alloc(16);
      a[0] = 1; a[4] = fport > 0 ? 2 : 1; a[5] = 1; a.writeUInt32LE(devAddr, 6); a.writeUInt32LE(fcnt, 10); a[15] = 1;
      const s = aesEnc(k.NwkSEncKey, a);
      for (let i = 0; i < fopts.length / 2; i++) phy[8 + i] ^= s[i];
    }
    const msg = phy.subarray(0, phy.length - 4);
    const mic = cmac4(k.SNwkSIntKey, Buffer.concat([b0(Buffer.alloc(4), 1, devAddr, fcnt, msg.length), msg]));
    mic.copy(phy, phy.length - 4);
    const rr = await run(`downlink ${X(phy)}`);
    const o = rr.out[0] || {};
    return { ok: rr.exit === 0 && o.Payload === payload && o.FPort === fport && o.FOpts === (fopts || ""), why: JSON.stringify(o) };
  }
  let dl = await downlink(0, 1, "CAFE", "");
  check(dl.ok, `${tag}: downlink FPort 1 (lora-packet) opened: MIC verified, AppSKey decryption ${dl.ok ? "" : dl.why}`);
  dl = await downlink(1, 0, "0601", "");
  check(dl.ok, `${tag}: downlink FPort 0 opened: NwkSEncKey decryption ${dl.ok ? "" : dl.why}`);
  dl = await downlink(2, 3, "01", "0A");
  check(dl.ok, `${tag}: downlink with FOpts opened ${v11 ? "(1.1: FOpts decrypted)" : ""} ${dl.ok ? "" : dl.why}`);
  r = await run(`downlink ${X(H("60" + rev(H(acc.DevAddr)).toString("hex") + "000300" + "01" + "AB" + "00000000"))}`);
  check(r.exit === 3, `${tag}: a downlink with a wrong MIC is refused (VerifyAesCmac through the element)`);

  // ---- rejoin-requests (1.1)
  if (v11) {
    const js = lp.generateJSKeys(nwkKey, H(line.DevEUI));
    r = await run("rejoin 0");
    let o = r.out[0] || {};
    let phy = H(o.PHYPayload || "");
    const rj0 = phy.length === 19 ? phy.readUInt16LE(13) : -1;
    check(r.exit === 0 && phy.length === 19 && phy[1] === 0 && X(phy.subarray(2, 5)) === X(netId) &&
      cmac4(k.SNwkSIntKey, phy.subarray(0, 15)).equals(phy.subarray(15)),
      `${tag}: rejoin type 0: NetID, RJcount0 ${rj0}, MIC under SNwkSIntKey (node crypto)`);
    r = await run("rejoin 2");
    o = r.out[0] || {};
    phy = H(o.PHYPayload || "");
    check(r.exit === 0 && phy.length === 19 && phy[1] === 2 && phy.readUInt16LE(13) === rj0 + 1 &&
      cmac4(k.SNwkSIntKey, phy.subarray(0, 15)).equals(phy.subarray(15)),
      `${tag}: rejoin type 2: the next RJcount0, MIC under SNwkSIntKey`);
    d = decode(X(phy), ["--mac-version", "1.1", "--snwksintkey", X(k.SNwkSIntKey)]);
    check(d.MICValid === true, `${tag}: rejoin type 2 MIC valid for ferry lorawan decode`);
    r = await run("rejoin 1");
    o = r.out[0] || {};
    phy = H(o.PHYPayload || "");
    const rj1 = phy.length === 24 ? phy.readUInt16LE(18) : -1;
    check(r.exit === 0 && phy.length === 24 && phy[1] === 1 && X(rev(phy.subarray(2, 10))) === line.JoinEUI &&
      cmac4(js.JSIntKey, phy.subarray(0, 20)).equals(phy.subarray(20)),
      `${tag}: rejoin type 1: JoinEUI, RJcount1 ${rj1}, MIC under JSIntKey (lora-packet's JS keys)`);
    ans = await bi("RejoinReq", X(phy), line.DevEUI, "1.1");
    check(ans.Result && ans.Result.ResultCode === "Success", `${tag}: the Join Server takes the rejoin type 1 (its MIC checked) (${JSON.stringify(ans.Result)})`);
    r = await run(`join-accept ${ans.PHYPayload || "00"} --type 1`);
    o = r.out[0] || {};
    check(r.exit === 0 && o.Accepted === true && o.JoinNonce === 2,
      `${tag}: its join-accept (under JSEncKey, MIC over JoinReqType 01 and RJcount1) taken by LoRaMac-node: JoinNonce ${o.JoinNonce}`);
    const k2 = lp.generateSessionKeys11(appKey, nwkKey, H(line.JoinEUI), H("000002"), Buffer.from([rj1 >> 8, rj1 & 255]));
    check(unwrap(cfg.asKek, ans.AppSKey.AESKey).equals(k2.AppSKey), `${tag}: the rejoin's session keys are lora-packet's (RJcount1 as DevNonce)`);
    k = k2;
  }

  // ---- multicast: McKey set encrypted under McKEKey, a group downlink
  const mcRoot = aesEnc(appKey, Buffer.from([v11 ? 0x20 : 0x00, ...Buffer.alloc(15)]));
  const mcKE = aesEnc(mcRoot, Buffer.alloc(16));
  const mcKey = crypto.randomBytes(16);
  const mcKeyEnc = aesDec(mcKE, mcKey);   // McKey = aes128_encrypt(McKEKey, McKey_encrypted)
  const mcAddr = 0x01FF0042;
  const blk = (t) => { const b = Buffer.alloc(16); b[0] = t; b.writeUInt32LE(mcAddr, 1); return b; };
  const mcAppS = aesEnc(mcKey, blk(1)), mcNwkS = aesEnc(mcKey, blk(2));
  r = await run(`mc-setup 1 0x${mcAddr.toString(16)} ${X(mcKeyEnc)}`);
  check(r.exit === 0, `${tag}: McKey_1 set encrypted under McKEKey, its session keys derived from McAddr ${JSON.stringify(r.out)}`);
  const mfields = { MType: "Unconfirmed Data Down", DevAddr: rev(Buffer.alloc(4, 0).fill(0)).fill(0), FCnt: 5,
    FCtrl: { ADR: false, ACK: false, ADRACKReq: false, FPending: false }, FPort: 201, payload: H("0102F00D") };
  mfields.DevAddr = Buffer.from(mcAddr.toString(16).padStart(8, "0"), "hex");
  const mpk = lp.fromFields(mfields, mcAppS, mcNwkS);
  const mphy = Buffer.from(mpk.getPHYPayload());
  check(lp.verifyMIC(lp.fromWire(mphy), mcNwkS), `${tag}: the multicast downlink built by lora-packet with the TS005 keys`);
  r = await run(`mc-downlink 1 ${X(mphy)}`);
  let o = r.out[0] || {};
  check(r.exit === 0 && o.Payload === "0102F00D" && o.FPort === 201,
    `${tag}: multicast downlink opened through the element (McNwkSKey MIC, McAppSKey key stream) ${JSON.stringify(o)}`);
  const bad = Buffer.from(mphy);
  bad[bad.length - 1] ^= 1;
  r = await run(`mc-downlink 1 ${X(bad)}`);
  check(r.exit === 3, `${tag}: a multicast downlink with a wrong MIC is refused`);

  // ---- what must be refused
  r = await run("refusals");
  const refused = r.out.filter((x) => x.Call && x.Call !== "SetDevEui(its own)");
  const notRefused = refused.filter((x) => !x.Refused).map((x) => x.Call);
  check(r.exit === 0 && refused.length >= 25 && notRefused.length === 0,
    `${tag}: ${refused.length} calls refused (root keys, wrong key ids, blocks of the wrong shape or address, replayed DevNonce, foreign EUIs) ${notRefused.join("; ")}`);
  check(r.out.some((x) => x.Call === "SetDevEui(its own)" && x.Refused === false), `${tag}: SetDevEui of its own DevEUI accepted`);
  r = await run("info");
  check(r.exit === 0 && r.out[0].Joined === true && r.out[0].NextDevNonce === 1,
    `${tag}: the refusals changed nothing in the element (joined, next DevNonce still 1)`);
  dev.stdin.end();
}
main().then(() => process.exit(failures === 0 ? 0 : 1), (e) => { console.log("CHECK 0 flow crashed: " + e.stack); process.exit(1); });
