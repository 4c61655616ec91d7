// lab_as.js - the stand-in application server of tests/integration/lab_ns.sh,
// and its crypto helpers, written against node's OpenSSL only (not ferry):
//   node lab_as.js serve PORT TOKEN LOGFILE   POST /uplink: checks the bearer,
//                                             appends the body as one line to LOGFILE, answers {}
//   node lab_as.js decrypt ASKEK UPLINK_JSON  the uplink's FRMPayload in clear (hex)
//   node lab_as.js encrypt ASKEK UPLINK_JSON FCNT HEX
//                                             HEX encrypted for a downlink with FCnt (hex)
"use strict";
const fs = require("fs");
const http = require("http");
const crypto = require("crypto");

function unwrap(kekHex, envelope) {
  const d = crypto.createDecipheriv("id-aes128-wrap", Buffer.from(kekHex, "hex"), Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
  return Buffer.concat([d.update(Buffer.from(envelope.AESKey, "hex")), d.final()]);
}

// LoRaWAN FRMPayload encryption (L2 4.3.3): A_i blocks under AES-ECB, XOR.
function crypt(key, uplink, devAddrHex, fcnt, data) {
  const out = Buffer.alloc(data.length);
  const addr = Buffer.from(devAddrHex, "hex").reverse();
  for (let i = 0; i * 16 < data.length; i++) {
    const a = Buffer.alloc(16);
    a[0] = 1; a[5] = uplink ? 0 : 1; addr.copy(a, 6); a.writeUInt32LE(fcnt >>> 0, 10); a[15] = i + 1;
    const c = crypto.createCipheriv("aes-128-ecb", key, null); c.setAutoPadding(false);
    const s = c.update(a);
    for (let j = 0; j < 16 && i * 16 + j < data.length; j++) out[i * 16 + j] = data[i * 16 + j] ^ s[j];
  }
  return out;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === "serve") {
  const [port, token, log] = args;
  http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.headers.authorization !== "Bearer " + token) { res.writeHead(401); res.end("{}"); return; }
      if (req.method !== "POST" || req.url !== "/uplink") { res.writeHead(404); res.end("{}"); return; }
      fs.appendFileSync(log, JSON.stringify(JSON.parse(body)) + "\n");
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end("{}");
    });
  }).listen(Number(port), "127.0.0.1");
} else if (cmd === "decrypt") {
  const [kek, upFile] = args;
  const up = JSON.parse(fs.readFileSync(upFile, "utf8"));
  const k = unwrap(kek, up.AppSKey);
  process.stdout.write(crypt(k, true, up.DevAddr, up.FCnt, Buffer.from(up.FRMPayload, "hex")).toString("hex"));
} else if (cmd === "encrypt") {
  const [kek, upFile, fcnt, hex] = args;
  const up = JSON.parse(fs.readFileSync(upFile, "utf8"));
  const k = unwrap(kek, up.AppSKey);
  process.stdout.write(crypt(k, false, up.DevAddr, Number(fcnt), Buffer.from(hex, "hex")).toString("hex"));
} else {
  console.error("usage: lab_as.js serve|decrypt|encrypt ...");
  process.exit(2);
}
