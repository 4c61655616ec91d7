// api.js - the Identity Manager's REST API as the console uses it
// (docs/idm.md): requests with the bearer token in a header (never in a
// URL), errors turned into sentences a person can act on, and the live
// stream (server-sent events) read with fetch, since EventSource cannot
// send an Authorization header.

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// What each refusal means for the person in front of the page.
export function explain(status, serverText) {
  const said = serverText ? ` (the server said: ${serverText})` : "";
  switch (status) {
    case 0: return "The Identity Manager does not answer. Check that `ferry idm serve` is running and reachable, then try again.";
    case 400: return `The request was not accepted${said}. Correct the input and try again.`;
    case 401: return "Your token was not accepted. Sign in again with the whole token from your token file.";
    case 403: return `This is not allowed for your account${said}.`;
    case 404: return "Not found: the secure element does not exist or is not yours. Check the DevEUI.";
    case 409: return `Not possible now${said}. Usually another update is still in flight: wait until the device is active again, then retry.`;
    case 413: return "Too much at once: send fewer lines (at most 1000 per request).";
    case 502: return `A Join Server did not answer${said}. Try again later; nothing was changed.`;
    case 503: return `The Identity Manager is busy${said}. Try again in a minute.`;
    default: return `The Identity Manager failed (${status})${said}. Try again; if it persists, tell the operator.`;
  }
}

export class Api {
  constructor(token) { this.token = token; }

  async request(method, path, body) {
    let r;
    try {
      r = await fetch(path, {
        method,
        headers: Object.assign({ "Authorization": "Bearer " + this.token },
                               body !== undefined ? { "Content-Type": "application/json" } : {}),
        body: body !== undefined ? JSON.stringify(body) : undefined,
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      throw new ApiError(0, explain(0));
    }
    let doc = null;
    try { doc = await r.json(); } catch (e) { doc = null; }
    if (!r.ok) throw new ApiError(r.status, explain(r.status, doc && doc.Error));
    return doc;
  }
  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body === undefined ? {} : body); }
}

// The live stream: calls onEvent(name, data) for each event, onState(text)
// when it connects or drops; reconnects with Last-Event-ID after a pause.
// Returns a function that stops it.
export function liveStream(token, onEvent, onState) {
  let stopped = false, lastId = null, ctrl = null;
  async function run() {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const headers = { "Authorization": "Bearer " + token };
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const r = await fetch("/api/v1/events", { headers, cache: "no-store", signal: ctrl.signal });
        if (r.status === 401) { onState("signed out", false); onEvent("unauthorized", null); return; }
        if (!r.ok) onState(r.status === 503 ? "live updates full: reloading instead" : "reconnecting…", false);
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let name = "message", data = "", id = null;
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) name = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
              else if (line.startsWith("id: ")) id = line.slice(4);
            }
            if (id !== null) lastId = id;
            if (name === "hello") { onState("live", true); if (lastId === null) lastId = String(JSON.parse(data).Head); }
            if (data) onEvent(name, JSON.parse(data));
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      onState("reconnecting…", false);
      await new Promise((res) => setTimeout(res, 2000));
    }
  }
  run();
  return () => { stopped = true; if (ctrl) ctrl.abort(); };
}

// One line of a claims list: a TR005 QR payload
// LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>:O<OwnerToken>[:...] or "DEVEUI TOKEN".
// Returns {DevEUI, OwnerToken} or {error}; null for a blank or # line.
export function parseClaimLine(raw) {
  const line = raw.trim();
  if (line === "" || line.startsWith("#")) return null;
  const hex = (s, n) => new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(s);
  if (/^LW:D0:/i.test(line)) {
    const f = line.split(":");
    const dev = f[3] || "";
    const owner = f.slice(5).find((x) => /^O/.test(x));
    if (!hex(dev, 16)) return { error: "the QR payload has no DevEUI of 16 hex digits" };
    if (!owner || !hex(owner.slice(1), 32)) return { error: "the QR payload has no owner token (O + 32 hex digits)" };
    return { DevEUI: dev.toUpperCase(), OwnerToken: owner.slice(1).toUpperCase() };
  }
  const p = line.split(/[\s,;]+/);
  if (p.length === 2 && hex(p[0], 16) && hex(p[1], 32)) return { DevEUI: p[0].toUpperCase(), OwnerToken: p[1].toUpperCase() };
  return { error: "not a QR payload (LW:D0:…) nor \"DEVEUI OWNERTOKEN\" (16 and 32 hex digits)" };
}
