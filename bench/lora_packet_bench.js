#!/usr/bin/env node
/*
 * lora_packet_bench.js - the work of bench_lw.c, done by lora-packet.
 *
 *   node bench/lora_packet_bench.js FRAMES [SECONDS]
 *
 * FRAMES is the file `bench_lw --write` produces (format in bench_lw.c);
 * lora-packet comes from tests/oracle/node_modules (tests/oracle/run.sh or
 * `npm ci` in tests/oracle installs it). One op is one frame, as in C:
 *
 *   decode            fromWire
 *   mic_join_request  fromWire + verifyMIC
 *   mic_data_up_10    fromWire + verifyMIC
 *   mic_data_up_11    fromWire + verifyMIC (ACK clear, so ConfFCnt 0)
 *   decrypt_frm       fromWire + decrypt
 *
 * Output has bench_lw's "name value" lines; peak_rss_kb is
 * process.resourceUsage().maxRSS.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const LP_DIR = path.join(__dirname, "..", "tests", "oracle", "node_modules", "lora-packet");
const lora = require(LP_DIR);

const WARMUP_SEC = 0.2;
const KEYS = { join_request: 1, data_up_10: 2, data_up_11: 4 };

function load(file) {
  const frames = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const [kind, fcnt, txDr, txCh, phy, ...keys] = line.trim().split(/\s+/);
    if (!(kind in KEYS) || keys.length !== KEYS[kind]) throw new Error(`${file}: not a frame line: ${line}`);
    const n = Number(fcnt);
    frames.push({
      kind,
      phy: Buffer.from(phy, "hex"),
      // FCntMSBytes: the counter's high 16 bits, little-endian (see tests/oracle/gen.js).
      msb: Buffer.from([(n >>> 16) & 0xff, (n >>> 24) & 0xff]),
      // lora-packet's ConfFCnt | TxDr | TxCh for 1.1 uplinks; ConfFCnt 0 as ACK is clear.
      conf: Buffer.from([0, 0, Number(txDr), Number(txCh)]),
      keys: keys.map((k) => Buffer.from(k, "hex")),
    });
  }
  return frames;
}

let micFailures = 0;

function verify(f) {
  const p = lora.fromWire(f.phy);
  const [k0, k1] = f.keys;
  let ok;
  if (f.kind === "join_request") ok = lora.verifyMIC(p, undefined, k0);
  else if (f.kind === "data_up_10") ok = lora.verifyMIC(p, k0, undefined, f.msb);
  else ok = lora.verifyMIC(p, k0, k1, f.msb, f.conf); // FNwkSIntKey, SNwkSIntKey
  if (!ok) micFailures++;
  return ok ? 1 : 0;
}

function decrypt(f) {
  const p = lora.fromWire(f.phy);
  const [app, net] = f.kind === "data_up_10" ? [f.keys[1], f.keys[0]] : [f.keys[3], f.keys[2]];
  return lora.decrypt(p, app, net, f.msb)[0];
}

const OPS = [
  ["decode", () => true, (f) => lora.fromWire(f.phy).MIC[0]],
  ["mic_join_request", (f) => f.kind === "join_request", verify],
  ["mic_data_up_10", (f) => f.kind === "data_up_10", verify],
  ["mic_data_up_11", (f) => f.kind === "data_up_11", verify],
  ["decrypt_frm", (f) => f.kind !== "join_request", decrypt],
];

let sink = 0;
function measure(fn, set, seconds) {
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsed;
  do {
    for (const f of set) sink += fn(f);
    ops += set.length;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  } while (elapsed < seconds);
  return ops / elapsed;
}

function main() {
  const [file, secondsArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: node lora_packet_bench.js FRAMES [SECONDS]\n");
    process.exit(2);
  }
  const seconds = secondsArg === undefined ? 1 : Number(secondsArg);
  const frames = load(file);
  const out = ["impl lora-packet", `version ${require(path.join(LP_DIR, "package.json")).version}`];
  out.push(`frames ${frames.length}`);
  for (const [name, wants, fn] of OPS) {
    const set = frames.filter(wants);
    if (set.length === 0) continue;
    measure(fn, set, WARMUP_SEC);
    out.push(`op ${name} ${Math.round(measure(fn, set, seconds))}`);
  }
  out.push(`mic_failures ${micFailures}`);
  out.push(`peak_rss_kb ${process.resourceUsage().maxRSS}`);
  process.stdout.write(out.join("\n") + "\n");
  process.exitCode = micFailures === 0 && sink !== null ? 0 : 1;
}

main();
