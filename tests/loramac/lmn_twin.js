// lmn_twin.js - a device running LoRaMac-node's unmodified crypto (lmn_dev)
// beside a ferry element, for tests/integration/lmn_joinnonce.sh. The NS
// stand-ins (idm_ns.js, idm_cust.js) call it with every join they carry out
// for the element, when LMN_TWIN names this file:
//
//   node lmn_twin.js JOIN_REQUEST_HEX JOIN_ACCEPT_HEX
//
// 1. lmn_dev makes its own join-request with the same root keys, EUIs and
//    DevNonce: it must be the element's frame byte for byte (so the Join
//    Server answered exactly what LoRaMac-node would have sent);
// 2. lmn_dev takes the Join Server's join-accept with LoRaMacCryptoHandleJoinAccept
//    and its stored JoinNonce - the last one it accepted from any Join
//    Server, kept in its NVM file across every move. It must accept, and
//    the JoinNonce must be greater than the stored one also in 1.0.x (the
//    rule of LoRaWAN 1.0.4, of LoRa Basics Modem and of LoRaMac-node built
//    with USE_10X_JOIN_NONCE_COUNTER_CHECK; its default 1.0.x rule, "different",
//    is weaker). Exit 1 otherwise, with lmn_dev's answer on stderr.
//
// env: LMN (lmn_dev), LMN_NVM (its NVM file), LMN_LOG (a JSON line per accept
// is appended), LMN_KEYS ("FILE=KEK,FILE=KEK": device lines whose keys are
// KeyEnvelopes under KEK - the HSA batch, lmn_tap.js logs; the last line for
// the DevEUI and JoinEUI of the request wins).
"use strict";
const { execFileSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const die = (m) => { console.error("lmn_twin: " + m); process.exit(1); };
const [jr, ja] = process.argv.slice(2);
const { LMN, LMN_NVM, LMN_LOG, LMN_KEYS } = process.env;
if (!jr || !ja || !LMN || !LMN_NVM || !LMN_KEYS) die("usage: LMN= LMN_NVM= LMN_KEYS= lmn_twin.js JR JA");

const b = Buffer.from(jr, "hex");
if (b.length !== 23 || b[0] !== 0x00) die("not a join-request: " + jr);
const eui = (off) => Buffer.from(b.subarray(off, off + 8)).reverse().toString("hex").toUpperCase();
const joinEui = eui(1), devEui = eui(9), devNonce = b.readUInt16LE(17);

function unwrap(kek, wrapped) {
  const d = crypto.createDecipheriv("id-aes128-wrap", Buffer.from(kek, "hex"), Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
  return Buffer.concat([d.update(Buffer.from(wrapped, "hex")), d.final()]).toString("hex");
}
let keys = null;
for (const src of LMN_KEYS.split(",")) {
  const [file, kek] = src.split("=");
  if (!fs.existsSync(file)) continue;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const o = JSON.parse(line);
    if (String(o.DevEUI).toUpperCase() !== devEui || String(o.JoinEUI).toUpperCase() !== joinEui) continue;
    keys = { nwk: unwrap(kek, o.NwkKey.AESKey), app: o.MACVersion === "1.1" ? unwrap(kek, o.AppKey.AESKey) : null };
  }
}
if (keys === null) die("no keys for DevEUI " + devEui + " JoinEUI " + joinEui);

function lmn(args, okCodes) {
  try {
    return JSON.parse(execFileSync(LMN, [LMN_NVM, ...args], { encoding: "utf8" }));
  } catch (e) {
    if (e.status !== undefined && okCodes.includes(e.status)) return JSON.parse(e.stdout);
    die("lmn_dev " + args[0] + ": " + (e.stderr || e.message));
  }
}
const req = lmn(["join-request", "--dev-eui", devEui, "--join-eui", joinEui, "--nwk-key", keys.nwk,
  ...(keys.app ? ["--app-key", keys.app] : []), "--dev-nonce", String(devNonce)], []);
if (req.PHYPayload.toUpperCase() !== jr.toUpperCase())
  die("LoRaMac-node's join-request " + req.PHYPayload + " is not the element's " + jr);
const acc = lmn(["join-accept", ja], [3]);
const line = JSON.stringify({ DevEUI: devEui, JoinEUI: joinEui, DevNonce: devNonce, ...acc });
if (LMN_LOG) fs.appendFileSync(LMN_LOG, line + "\n");
if (!acc.Accepted) die("LoRaMac-node refused the join-accept: " + line);
if (!(acc.JoinNonce > acc.LastJoinNonce)) die("JoinNonce not greater than the last one accepted: " + line);
console.error("lmn_twin: " + line);
