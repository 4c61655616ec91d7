// lmn_tap.js - a pass-through in front of a customer Join Server's admin API,
// for tests/integration/lmn_joinnonce.sh. The IDM is given this address as
// the JS's URL; every request goes on to the JS unchanged and its answer
// comes back unchanged. The device lines the IDM posts or puts
// (/api/v1/devices) are appended to LOG, one JSON line each: the test holds
// the KEK they are wrapped under, so the LoRaMac-node device of the test can
// have the root keys the IDM made for it - as the ferry element gets them
// over MLS, which a LoRaMac-node soft-se cannot.
//
//   node lmn_tap.js PORT TARGET_URL LOG
"use strict";
const http = require("http");
const fs = require("fs");
const [port, target, log] = process.argv.slice(2);
if (!port || !target || !log) { console.error("usage: lmn_tap.js PORT TARGET_URL LOG"); process.exit(2); }

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const body = Buffer.concat(chunks);
    try {
      if ((req.method === "POST" || req.method === "PUT") && req.url.startsWith("/api/v1/devices"))
        fs.appendFileSync(log, body.toString("utf8").trim() + "\n", { mode: 0o600 });
      const headers = {};
      for (const h of ["authorization", "content-type"]) if (req.headers[h]) headers[h] = req.headers[h];
      const r = await fetch(target + req.url, { method: req.method, headers,
        body: req.method === "GET" || req.method === "DELETE" ? undefined : body });
      const out = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, { "content-type": r.headers.get("content-type") || "application/json" });
      res.end(out);
    } catch (e) {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end("lmn_tap: " + e.message);
    }
  });
}).listen(parseInt(port, 10), "127.0.0.1", () => console.log("lmn_tap listening on " + port));
