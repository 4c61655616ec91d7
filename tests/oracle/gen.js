#!/usr/bin/env node
/*
 * gen.js - random LoRaWAN cases whose expected values come from lora-packet.
 *
 * lora-packet (pinned to 0.9.3 in package.json) is an independent
 * implementation of the LoRaWAN L2 in TypeScript. This script draws random
 * inputs from a seeded PRNG, asks lora-packet for every expected value
 * (frame bytes, decoded fields, MICs, plaintexts, derived keys) and writes one
 * JSON case per line on stdout:
 *
 *   {"kind": "data_up", "ver": "1.1", "in": {...}, "expect": {...}}
 *
 * "in" holds what the C side is given; "expect" holds only lora-packet's
 * answers, and oracle_check compares every one of them (it proves that by
 * corrupting each expected value of a few cases and checking that the
 * corruption is caught). The first line is {"kind": "meta", ...}.
 *
 * Conventions, so that byte orders are never guessed:
 *   - byte strings are lowercase hex in wire order (keys, phy, FOpts...);
 *   - EUIs, DevAddr, NetID, JoinNonce read from lora-packet's fields are hex
 *     in lora-packet's order, which is big-endian (the wire reversed), i.e.
 *     the number people read; the C side parses them as numbers;
 *   - other integers are JSON numbers.
 *
 * Usage: node gen.js [seed] > cases.jsonl
 *   seed: argv[2], else $ORACLE_SEED, else a fixed default; decimal or 0x hex.
 *   $ORACLE_COUNT: cases per (kind, version) group, default 1000 (the checker
 *   refuses fewer).
 *
 * lora-packet quirks this generator works around, each checked against the
 * LoRaWAN specification (TS001 1.0.4 and 1.1 with its errata):
 *   1. 1.1 uplink MIC: lora-packet puts ConfFCnt into B1 when ACK is set *or*
 *      FPort is 0; the spec says ConfFCnt is 0x0000 unless the ACK bit is set
 *      (TS001-1.1 §4.4). We hand lora-packet ConfFCnt 0 whenever ACK is clear,
 *      which is the spec's value, and hand the C core a random ConfFCnt: the
 *      core must apply the ACK rule itself (lw_mic.h says it does).
 *   2. lora-packet byte-swaps the ConfFCnt it is given for uplinks
 *      (writeUInt16BE(readUInt16LE)) but not for downlinks. B0/B1 carry
 *      ConfFCnt little-endian, so uplinks get it big-endian here and downlinks
 *      little-endian; both then land little-endian in the block.
 *   3. fromWire of a type 1 rejoin-request reads RJcount1 from bytes 13..15
 *      (inside DevEUI) instead of 18..20. The expected RJcount1 is therefore
 *      the value this script put on the wire; the MIC, computed over the raw
 *      bytes, is unaffected.
 *   4. fromFields treats a numeric 0 as "not given" for FCnt, DLSettings,
 *      RxDelay and JoinReqType and substitutes defaults (JoinReqType 0xff!):
 *      we always pass Buffers for those.
 *   5. lora-packet cannot build rejoin-requests; their bytes are laid out
 *      here (TS001-1.1 §6.2.4.4) and lora-packet parses them and computes
 *      their MIC.
 */
"use strict";

const lora = require("lora-packet");
const loraVersion = require("lora-packet/package.json").version;

const PINNED = "0.9.3";
const DEFAULT_SEED = 0x5eed1a3b;

// --- seeded PRNG (mulberry32): same seed, same cases, on every platform ---

function parseSeed(s) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`bad seed: ${s}`);
  return n >>> 0;
}

const seedArg = process.argv[2] ?? process.env.ORACLE_SEED;
const SEED = seedArg === undefined || seedArg === "" ? DEFAULT_SEED : parseSeed(seedArg);
const COUNT = Number(process.env.ORACLE_COUNT ?? 1000);
if (!Number.isInteger(COUNT) || COUNT < 1) throw new Error(`bad ORACLE_COUNT: ${process.env.ORACLE_COUNT}`);

let state = SEED;
function rand32() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}
const below = (n) => rand32() % n; // bias is irrelevant for test data
const chance = (p) => rand32() < p * 0x100000000;
const bytes = (n) => Buffer.from(Array.from({ length: n }, () => below(256)));
const pick = (xs) => xs[below(xs.length)];

// A counter that often sits on the interesting edges: 0, 16-bit wrap, 2^32-1.
function counter32() {
  const edges = [0, 1, 0xffff, 0x10000, 0x1ffff, 0xffff0000, 0xfffffffe, 0xffffffff];
  if (chance(0.1)) return pick(edges);
  if (chance(0.3)) return below(0x10000);
  return rand32();
}

// --- helpers ---

const hex = (b) => Buffer.from(b).toString("hex");
function be(n, len) {
  const b = Buffer.alloc(len);
  b.writeUIntBE(n, 0, len);
  return b;
}
function check(cond, what) {
  if (!cond) throw new Error(`lora-packet disagrees with itself: ${what}`);
}
const same = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

// FCntMSBytes as lora-packet wants it: it appends them after the wire's two
// low bytes in B0/Ai, so they are the high 16 bits, little-endian.
const fcntMsb = (fcnt) => Buffer.from([(fcnt >>> 16) & 0xff, (fcnt >>> 24) & 0xff]);

const MTYPES = {
  "Join Request": 0,
  "Join Accept": 1,
  "Unconfirmed Data Up": 2,
  "Unconfirmed Data Down": 3,
  "Confirmed Data Up": 4,
  "Confirmed Data Down": 5,
  "Rejoin Request": 6,
};
const mtypeOf = (pkt) => {
  const m = MTYPES[pkt.getMType()];
  check(m !== undefined, `unknown MType ${pkt.getMType()}`);
  return m;
};

// --- one generator per kind ---

function joinRequest(ver) {
  const key = bytes(16); // AppKey (1.0) or NwkKey (1.1): the same computation
  const joinEui = bytes(8);
  const devEui = bytes(8);
  const devNonce = bytes(2);
  const pkt = lora.fromFields(
    { MType: "Join Request", AppEUI: joinEui, DevEUI: devEui, DevNonce: devNonce },
    undefined,
    undefined,
    key
  );
  const phy = pkt.getPHYPayload();
  const wire = lora.fromWire(phy);
  check(lora.verifyMIC(wire, undefined, key), "join-request MIC");
  return {
    in: { key: hex(key), join_eui: hex(joinEui), dev_eui: hex(devEui), dev_nonce: devNonce.readUInt16BE(0) },
    expect: {
      phy: hex(phy),
      mic: hex(lora.calculateMIC(wire, undefined, key)),
      join_eui: hex(wire.AppEUI),
      dev_eui: hex(wire.DevEUI),
      dev_nonce: hex(wire.DevNonce),
    },
  };
}

function rejoinRequest(type) {
  return () => {
    const sNwkSIntKey = bytes(16);
    const jsIntKey = bytes(16);
    const devEui = bytes(8);
    const rjCount = below(0x10000);
    const netId = below(0x1000000);
    const joinEui = bytes(8);
    // TS001-1.1 §6.2.4.4: fields little-endian on the wire, MIC over all.
    const body =
      type === 1
        ? Buffer.concat([Buffer.from(joinEui).reverse(), Buffer.from(devEui).reverse(), be(rjCount, 2).reverse()])
        : Buffer.concat([be(netId, 3).reverse(), Buffer.from(devEui).reverse(), be(rjCount, 2).reverse()]);
    const unsigned = Buffer.concat([Buffer.from([0xc0, type]), body, Buffer.alloc(4)]);
    const mic = lora.calculateMIC(lora.fromWire(unsigned), sNwkSIntKey, jsIntKey);
    const phy = Buffer.concat([unsigned.subarray(0, unsigned.length - 4), mic]);
    const wire = lora.fromWire(phy);
    check(lora.verifyMIC(wire, sNwkSIntKey, jsIntKey), "rejoin MIC");
    const expect = { mic: hex(wire.MIC), rejoin_type: wire.RejoinType[0], dev_eui: hex(wire.DevEUI) };
    if (type === 1) {
      expect.join_eui = hex(wire.JoinEUI);
      expect.rj_count = rjCount; // quirk 3: lora-packet's RJCount1 is the wrong bytes
    } else {
      expect.net_id = hex(wire.NetID);
      expect.rj_count = hex(wire.RJCount0);
    }
    return {
      in: { phy: hex(phy), key: hex(type === 1 ? jsIntKey : sNwkSIntKey) },
      expect,
    };
  };
}

function joinAccept(ver) {
  const joinNonce = bytes(3);
  const netId = bytes(3);
  const devAddr = bytes(4);
  const rxDelay = Buffer.from([below(16)]);
  const cflist = chance(0.5) ? bytes(16) : Buffer.alloc(0);
  const fields = { MType: "Join Accept", AppNonce: joinNonce, NetID: netId, DevAddr: devAddr, RxDelay: rxDelay, CFList: cflist };
  const input = {
    join_nonce: joinNonce.readUIntBE(0, 3),
    net_id: netId.readUIntBE(0, 3),
    dev_addr: devAddr.readUInt32BE(0),
    rx_delay: rxDelay[0],
    cflist: hex(cflist),
  };
  let pkt;
  let micKey;
  let encKey;
  if (ver === "1.0") {
    // OptNeg clear: MIC and encryption both with NwkKey (AppKey in 1.0 terms).
    const dl = Buffer.from([below(0x80)]);
    micKey = encKey = bytes(16);
    pkt = lora.fromFields({ ...fields, DLSettings: dl }, undefined, undefined, micKey);
    Object.assign(input, { key: hex(micKey), dl_settings: dl[0] });
  } else {
    // OptNeg set: MIC with JSIntKey over JoinReqType | JoinEUI | DevNonce |
    // MHDR | fields; encryption with NwkKey answering a join-request (ff),
    // JSEncKey answering a rejoin (00, 01, 02). DevNonce is RJcount there.
    const dl = Buffer.from([0x80 | below(0x80)]);
    const nwkKey = bytes(16);
    const joinEui = bytes(8);
    const devNonce = bytes(2);
    const reqType = pick([0xff, 0x00, 0x01, 0x02]);
    const js = lora.generateJSKeys(nwkKey, bytes(8));
    micKey = js.JSIntKey;
    encKey = reqType === 0xff ? nwkKey : js.JSEncKey;
    pkt = lora.fromFields(
      { ...fields, DLSettings: dl, JoinReqType: Buffer.from([reqType]), AppEUI: joinEui, DevNonce: devNonce },
      undefined,
      micKey, // "NwkSKey" slot: the 1.1 join-accept MIC key
      encKey // "AppKey" slot: the encryption key
    );
    Object.assign(input, {
      mic_key: hex(micKey),
      enc_key: hex(encKey),
      dl_settings: dl[0],
      join_req_type: reqType,
      join_eui: hex(joinEui),
      dev_nonce: devNonce.readUInt16BE(0),
    });
  }
  // fromFields computed the MIC over the plaintext, then encrypted in place.
  const plain = Buffer.concat([pkt.MHDR, pkt.MACPayload, pkt.MIC]);
  const phy = pkt.getPHYPayload();
  check(same(lora.decryptJoinAccept(lora.fromWire(phy), encKey), plain), "join-accept decrypt");
  check(lora.verifyMIC(Object.assign(lora.fromWire(plain), { JoinReqType: pkt.JoinReqType, AppEUI: pkt.AppEUI, DevNonce: pkt.DevNonce }), micKey, micKey), "join-accept MIC");
  // lora-packet's decoder on the plaintext gives the fields the C parser must find.
  const dec = lora.fromWire(plain);
  return {
    in: input,
    expect: {
      plain: hex(plain),
      mic: hex(pkt.MIC),
      phy: hex(phy),
      join_nonce: hex(dec.AppNonce),
      net_id: hex(dec.NetID),
      dev_addr: hex(dec.DevAddr),
      dl_settings: hex(dec.DLSettings),
      rx_delay: hex(dec.RxDelay),
      cflist: hex(dec.CFList),
    },
  };
}

function data(ver, dir) {
  return () => {
    const up = dir === "up";
    const confirmed = chance(0.5);
    const devAddr = bytes(4);
    const fcnt = counter32();
    const fctrl = { ADR: chance(0.5), ADRACKReq: chance(0.3), ACK: chance(0.5), FPending: chance(0.3) };
    // FPort: absent (no FRMPayload), 0 (MAC commands, no FOpts), or 1..255.
    const r = below(10);
    const fport = r === 0 ? null : r <= 2 ? 0 : 1 + below(255);
    const payload = fport === null ? Buffer.alloc(0) : bytes(below(65));
    const fopts = fport === 0 ? Buffer.alloc(0) : bytes(chance(0.3) ? 0 : below(16));
    const confFCnt = below(0x10000); // what the C core is given
    const txDr = below(16);
    const txCh = below(256);
    const msb = fcntMsb(fcnt);

    const keys =
      ver === "1.0"
        ? { nwk_s_key: bytes(16), app_s_key: bytes(16) }
        : { f_nwk_s_int_key: bytes(16), s_nwk_s_int_key: bytes(16), nwk_s_enc_key: bytes(16), app_s_key: bytes(16) };
    const netKey = ver === "1.0" ? keys.nwk_s_key : keys.nwk_s_enc_key;

    const fields = {
      MType: `${confirmed ? "Confirmed" : "Unconfirmed"} Data ${up ? "Up" : "Down"}`,
      DevAddr: devAddr,
      FCtrl: fctrl,
      FCnt: be(fcnt & 0xffff, 2),
      FOpts: fopts,
      payload,
    };
    if (fport !== null) fields.FPort = fport;
    const pkt = lora.fromFields(fields); // no keys: plaintext, MIC EEEEEEEE
    if (fport !== null) pkt.FRMPayload = lora.decrypt(pkt, keys.app_s_key, netKey, msb); // XOR stream: encrypts
    if (ver === "1.1" && fopts.length > 0) pkt.encryptFOpts(keys.nwk_s_enc_key, undefined, msb);
    pkt._mergeGroupFields();

    // ConfFCnt for lora-packet: 0 unless ACK (quirk 1), byte order per quirk 2.
    const lpConf = fctrl.ACK ? confFCnt : 0;
    const micArgs = () =>
      ver === "1.0"
        ? [keys.nwk_s_key, undefined, msb]
        : up
        ? [keys.f_nwk_s_int_key, keys.s_nwk_s_int_key, msb, Buffer.from([lpConf >> 8, lpConf & 0xff, txDr, txCh])]
        : [keys.s_nwk_s_int_key, keys.s_nwk_s_int_key, msb, Buffer.from([lpConf & 0xff, lpConf >> 8])];
    lora.recalculateMIC(pkt, ...micArgs()); // fresh buffers each call: lora-packet mutates them
    const phy = pkt.getPHYPayload();

    const wire = lora.fromWire(phy);
    check(lora.verifyMIC(lora.fromWire(phy), ...micArgs()), "data MIC");
    const frmPlain = fport === null ? Buffer.alloc(0) : lora.decrypt(lora.fromWire(phy), keys.app_s_key, netKey, msb);
    check(same(frmPlain, payload), "FRMPayload round trip");
    const expect = {
      mtype: mtypeOf(wire),
      dev_addr: hex(wire.DevAddr),
      fcnt16: wire.getFCnt(),
      adr: wire.getFCtrlADR(),
      adr_ack_req: wire.getFCtrlADRACKReq(),
      ack: wire.getFCtrlACK(),
      f_pending: wire.getFCtrlFPending(),
      fopts: hex(wire.FOpts),
      fport: wire.getFPort(),
      frm_payload: hex(wire.FRMPayload),
      mic: hex(wire.MIC),
      frm_plain: hex(frmPlain),
    };
    if (ver === "1.1") {
      // decryptFOpts picks the AFCntDown A block for downlinks with FPort > 0.
      const foptsPlain = lora.fromWire(phy).decryptFOpts(keys.nwk_s_enc_key, undefined, msb);
      check(same(foptsPlain, fopts), "FOpts round trip");
      expect.fopts_plain = hex(foptsPlain);
    }
    const input = { phy: hex(phy), fcnt, conf_fcnt: confFCnt, tx_dr: txDr, tx_ch: txCh };
    for (const [name, k] of Object.entries(keys)) input[name] = hex(k);
    return { in: input, expect };
  };
}

function sessionKeys10() {
  const nwkKey = bytes(16);
  const joinNonce = bytes(3);
  const netId = bytes(3);
  const devNonce = bytes(2);
  const k = lora.generateSessionKeys10(nwkKey, netId, joinNonce, devNonce);
  return {
    in: {
      nwk_key: hex(nwkKey),
      join_nonce: joinNonce.readUIntBE(0, 3),
      net_id: netId.readUIntBE(0, 3),
      dev_nonce: devNonce.readUInt16BE(0),
    },
    expect: { nwk_s_key: hex(k.NwkSKey), app_s_key: hex(k.AppSKey) },
  };
}

function sessionKeys11() {
  const nwkKey = bytes(16);
  const appKey = bytes(16);
  const joinNonce = bytes(3);
  const joinEui = bytes(8);
  const devNonce = bytes(2);
  const k = lora.generateSessionKeys11(appKey, nwkKey, joinEui, joinNonce, devNonce);
  return {
    in: {
      nwk_key: hex(nwkKey),
      app_key: hex(appKey),
      join_nonce: joinNonce.readUIntBE(0, 3),
      join_eui: hex(joinEui),
      dev_nonce: devNonce.readUInt16BE(0),
    },
    expect: {
      f_nwk_s_int_key: hex(k.FNwkSIntKey),
      s_nwk_s_int_key: hex(k.SNwkSIntKey),
      nwk_s_enc_key: hex(k.NwkSEncKey),
      app_s_key: hex(k.AppSKey),
    },
  };
}

function jsKeys() {
  const nwkKey = bytes(16);
  const devEui = bytes(8);
  const k = lora.generateJSKeys(nwkKey, devEui);
  return {
    in: { nwk_key: hex(nwkKey), dev_eui: hex(devEui) },
    expect: { js_int_key: hex(k.JSIntKey), js_enc_key: hex(k.JSEncKey) },
  };
}

// (kind, version) groups; oracle_check has the same table.
const GROUPS = [
  ["join_request", "1.0", () => joinRequest("1.0")],
  ["join_request", "1.1", () => joinRequest("1.1")],
  ["rejoin_request_0", "1.1", rejoinRequest(0)],
  ["rejoin_request_1", "1.1", rejoinRequest(1)],
  ["rejoin_request_2", "1.1", rejoinRequest(2)],
  ["join_accept", "1.0", () => joinAccept("1.0")],
  ["join_accept", "1.1", () => joinAccept("1.1")],
  ["data_up", "1.0", data("1.0", "up")],
  ["data_down", "1.0", data("1.0", "down")],
  ["data_up", "1.1", data("1.1", "up")],
  ["data_down", "1.1", data("1.1", "down")],
  ["session_keys", "1.0", sessionKeys10],
  ["session_keys", "1.1", sessionKeys11],
  ["js_keys", "1.1", jsKeys],
];

function main() {
  if (loraVersion !== PINNED) throw new Error(`lora-packet ${loraVersion} installed, ${PINNED} pinned: run npm ci`);
  process.stderr.write(`# oracle: seed ${SEED} (0x${SEED.toString(16)}), ${COUNT} cases per group\n`);
  const lines = [JSON.stringify({ kind: "meta", seed: SEED, count: COUNT, lora_packet: loraVersion })];
  for (const [kind, ver, make] of GROUPS) {
    for (let i = 0; i < COUNT; i++) lines.push(JSON.stringify({ kind, ver, ...make() }));
  }
  process.stdout.write(lines.join("\n") + "\n");
}

main();
