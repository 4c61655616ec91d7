// idm_matrix.js - the case engine of tests/integration/idm_matrix.sh: the
// authorization table of docs/idm.md ("Who may do what") as a function,
// `expect`, written from the page and not from the code, and every REST
// endpoint of `idm serve` and every CLI command that acts on an SE, driven
// as each kind of actor, each answer compared with what `expect` says.
//
// For every case: the SE's facts are read (sqlite3, read only: state,
// maker, claim, holder, the tenant leaving in a transfer, the wrong-token
// counts, the command's origin), `expect` gives the answer, the request is
// made, and
//   - a refusal (403, 404, 409 of the table, a wrong owner token) must be
//     byte for byte the answer for an unknown DevEUI (the DevEUI it echoes
//     written as {DevEUI}), and must have changed nothing: the snapshot of
//     the SE's rows and of every SE's commands, keys, claims and audit
//     entries of a change is the same before and after; only a refused
//     claim's own audit entry and wrong-token count may move, as the page
//     says they do;
//   - an allowed change answers 2xx or a 409 of the state machine, never
//     a 403 or 404 (the CLI: exit 0, or a message that is not a refusal's).
// Prints "ok - NAME", "not ok - NAME" (with "# " lines saying why) for the
// shell to number.
//
//   node idm_matrix.js CONFIG facts LABEL NAME=state/claim/holder...
//   node idm_matrix.js CONFIG sweep LABEL [--rest] [--cli] [--op] [--changes] [NAME...]
//        --rest the tenants' REST calls (the default), --cli the tenants'
//        CLI commands (--tenant), --op the operator's; --changes runs the
//        allowed changes too (in the order of the lists below), otherwise
//        only the cases that must change nothing; --cli403=NAME,... the
//        tenants' CLI cases that the table answers 403 (the kind of actor
//        alone, whatever the SE) only on these SEs
//   node idm_matrix.js CONFIG cases LABEL "ACTOR CHANNEL ACTION NAME [k=v...]"...
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const [cmd, label, ...args] = process.argv.slice(3);
const SE = Object.fromEntries(cfg.ses.map((s) => [s.name, s]));
const NOSUCH = '{"Error":"no such secure element"}';
const NOMATCH = '{"Error":"the owner token does not match this DevEUI"}';
const TENANT_KIND = { maker: "maker", othermaker: "maker", acme: "customer", bolt: "customer" };
const kindOf = (a) => (a === "op" ? "operator" : TENANT_KIND[a]);
const other = (c) => (c === "acme" ? "bolt" : "acme");

let cases = 0, bad = 0;
const tally = {};
function report(ok, name, why) {
  cases++;
  if (ok) console.log("ok - " + name);
  else {
    bad++;
    console.log("not ok - " + name);
    for (const l of String(why).split("\n")) console.log("#   " + l);
  }
}

// ---------------------------------------------------------------- the table

// docs/idm.md, "Who may do what": actions that a kind of actor does not
// have at all answer 403 before any SE is read.
const MAKER_403 = new Set(["claim", "release", "assign", "transfer", "renew", "relay"]);
const OPERATOR_ONLY = new Set(["refuse", "lock", "unlock", "provision", "retire"]);
const READS = new Set(["read", "read_command"]);
const queuedBy = (origin, id) => typeof origin === "string" && origin.replace(/^cli:/, "") === "tenant:" + id;

// The answer the table gives to ACTOR asking ACT of an SE with facts F.
// k: allow (the state machine then says 2xx or 409), 403, 404, 409holder
// (a maker's return or command while a customer holds it), retired (the
// operator: reads only), and for claims nomatch (403 wrong token), 400,
// claim409, already, claimok.
function expect(actor, act, F, o) {
  const kind = kindOf(actor);
  const retired = F.exists && F.state === "retired";
  if (kind === "operator") {
    if (!F.exists) return "unknown";
    if (retired && !READS.has(act)) return "retired";
    return "allow";
  }
  if (OPERATOR_ONLY.has(act) || (kind === "maker" && MAKER_403.has(act))) return "403";
  if (act === "claim") {
    // the owner token decides, checked before anything else
    if (o.token === "malformed") return "400";
    if (!F.exists || o.token !== "right" || (F.failures[actor] || 0) >= 5) return "nomatch";
    if (retired || F.claim === "locked" || (F.claim === "claimed" && F.holder !== actor)) return "claim409";
    return F.holder === actor ? "already" : "claimok";
  }
  if (!F.exists || retired) return "404";
  if (kind === "maker") {
    if (F.maker !== actor) return "404";
    if (act === "read_command" && !queuedBy(F.origin, actor)) return "404";
    if ((act === "return" || act === "command") && F.holder !== "") return "409holder";
    return "allow";
  }
  if (act === "relay" || act === "read_command") {
    if (F.holder !== actor && F.leaving !== actor) return "404";
    if (act === "read_command" && !queuedBy(F.origin, actor)) return "404";
    return "allow";
  }
  return F.holder === actor ? "allow" : "404";
}
const CHANGES = (e, act) => e === "claimok" || (e === "allow" && !READS.has(act));

// ---------------------------------------------------------------- facts and snapshots

// One sqlite3 process for the whole run (a process per query would cost
// more than the case): each query is followed by a marker line, and its
// answer is what comes before the marker. Read only; every statement is its
// own transaction, so no lock is held between cases.
const { spawn } = require("child_process");
const db = spawn("sqlite3", ["-cmd", ".timeout 5000", "-readonly", cfg.db], { stdio: ["pipe", "pipe", "pipe"] });
let dbOut = "", dbErr = "", dbWaiter = null;
const MARK = "__idm_matrix_end__";
db.stdout.on("data", (b) => { dbOut += b; if (dbWaiter) dbWaiter(); });
db.stderr.on("data", (b) => { dbErr += b; if (dbWaiter) dbWaiter(); });
function sql(q) {
  return new Promise((resolve, reject) => {
    dbOut = ""; dbErr = "";
    dbWaiter = () => {
      if (dbErr !== "") { dbWaiter = null; reject(new Error("sqlite3: " + dbErr)); return; }
      const i = dbOut.indexOf(MARK + "\n");
      if (i < 0) return;
      dbWaiter = null;
      resolve(dbOut.slice(0, i));
    };
    const t = q.trim();
    db.stdin.write(t + (t.endsWith(";") ? "" : ";") + "\nSELECT '" + MARK + "';\n");
  });
}
const REFUSED = "('idm.claim.refused','idm.claim.locked_out')";
// Everything a refusal must leave as it was, for SE dev, and of every SE
// what a refusal could touch by mistake; facts first. With seq, the facts
// are those of that command: one that does not exist is as no SE.
// Read once after each request and kept: the next case on the same SE
// starts from it, nothing having been asked in between.
let cached = null;
async function read(dev, seq) {
  const d = dev.replace(/[^0-9A-F]/g, "");
  if (!cached || cached.dev !== d) {
    cached = { dev: d, out: await sql(`
    SELECT 'F', s.state, s.maker, coalesce(c.state, 'none'), coalesce(c.tenant_id, ''), coalesce(c.op, ''),
           coalesce(c.prev_tenant_id, '')
      FROM idm_se s LEFT JOIN idm_claim c ON c.dev_eui = s.dev_eui WHERE s.dev_eui = '${d}';
    SELECT 'X', tenant_id, failures FROM idm_claim_failure WHERE dev_eui = '${d}';
    SELECT 'R', count(*) FROM idm_audit WHERE subject = '${d}' AND action IN ${REFUSED};
    SELECT 'se', state, maker, operators, updated_at FROM idm_se WHERE dev_eui = '${d}';
    SELECT 'claim', state, coalesce(tenant_id, ''), coalesce(js_id, ''), op, coalesce(prev_tenant_id, ''),
           coalesce(prev_js_id, ''), provisioned_at, updated_at FROM idm_claim WHERE dev_eui = '${d}';
    SELECT 'ota', epoch, tx_next, rx_last, next_msg_id, next_profile_id, last_fcnt_up FROM idm_ota WHERE dev_eui = '${d}';
    SELECT 'cmd', seq, state, origin, msg_id, rounds, hex(sent), hex(acked), result, hex(reply)
      FROM idm_cmd WHERE dev_eui = '${d}' ORDER BY seq;
    SELECT 'key', slot, js_id, profile_id, acked FROM idm_profile_key WHERE dev_eui = '${d}' ORDER BY slot;
    SELECT 'js', (SELECT count(*) FROM devices WHERE dev_eui = '${d}'), (SELECT count(*) FROM sessions WHERE dev_eui = '${d}'),
           (SELECT count(*) FROM idm_js_cleanup WHERE dev_eui = '${d}');
    SELECT 'all', (SELECT count(*) FROM idm_audit WHERE action NOT IN ${REFUSED}), (SELECT count(*) FROM idm_cmd),
           (SELECT count(*) FROM idm_claim), (SELECT count(*) FROM idm_profile_key), (SELECT count(*) FROM idm_js_cleanup),
           (SELECT coalesce(group_concat(dev_eui || state || coalesce(tenant_id, '')), '') FROM idm_claim),
           (SELECT coalesce(group_concat(dev_eui || state), '') FROM idm_se),
           (SELECT coalesce(sum(failures), 0) FROM idm_claim_failure WHERE dev_eui <> '${d}');`) };
  }
  const F = { exists: false, state: "", maker: "", claim: "none", holder: "", leaving: "", failures: {}, refusals: 0 };
  const snap = [];
  for (const line of cached.out.split("\n")) {
    const f = line.split("|");
    if (f[0] === "F") {
      Object.assign(F, { exists: true, state: f[1], maker: f[2], claim: f[3], tenant: f[4] });
      F.holder = f[3] === "claimed" ? f[4] : "";
      F.leaving = f[5] === "transfer" ? f[6] : "";
    } else if (f[0] === "X") F.failures[f[1]] = Number(f[2]);
    else if (f[0] === "R") F.refusals = Number(f[1]);
    else if (line !== "") {
      snap.push(line);
      if (f[0] === "cmd" && seq !== undefined && f[1] === String(seq)) F.origin = f[3];
    }
  }
  if (seq !== undefined && F.origin === undefined) F.exists = false; // a command that does not exist: as no SE
  return { F, snap: snap.join("\n") };
}
const factsText = (F) => (F.exists ? `${F.state}/${F.claim}/${F.holder}${F.leaving ? ", " + F.leaving + " leaving" : ""}` : "none");

// ---------------------------------------------------------------- doing it

const REST_ACTIONS = {
  read: "read", assign: "assign", release: "release", claim: "claim", transfer: "transfer", renew: "renew",
  return: "return", command: "command", read_command: "read_command", relay: "relay", bulk_claim: "claim",
  fleet_transfer: "transfer", fleet_renew: "renew", fleet_return: "return", fleet_commands: "command",
};
const CLI_ACTIONS = {
  show: "read", "command-show": "read_command", assign: "assign", release: "release", claim: "claim",
  refuse: "refuse", lock: "lock", unlock: "unlock", provision: "provision", transfer: "transfer", renew: "renew",
  return: "return", command: "command", retire: "retire",
};
const tokenOf = (se, t) => (t === "right" ? se.owner : t === "malformed" ? "not-a-token" : cfg.wrong);

async function rest(actor, what, dev, o, se) {
  const to = o.to || (actor === "acme" || actor === "bolt" ? other(actor) : "bolt");
  const toJs = o.js || (to === "bolt" ? "bolt-js" : "acme-js");
  const ops = { transfer: { Tenant: to, JoinServer: toJs }, renew: {}, return: {}, commands: { Payload: o.payload || "00" } };
  let method = "POST", path, body;
  switch (what) {
    case "read": method = "GET"; path = `/ses/${dev}`; break;
    case "assign": path = `/ses/${dev}/assign`; body = { JoinServer: o.js || cfg.js[actor] || "acme-js" }; break;
    case "release": method = "DELETE"; path = `/claims/${dev}`; break;
    case "claim": path = "/claims"; body = { DevEUI: dev, OwnerToken: tokenOf(se || {}, o.token) }; break;
    case "bulk_claim": path = "/claims"; body = { Claims: [{ DevEUI: dev, OwnerToken: tokenOf(se || {}, o.token) }] }; break;
    case "relay": path = `/ses/${dev}/relay`; body = { FRMPayload: "", MaxDownlinkPayload: 51 }; break;
    case "read_command": method = "GET"; path = `/ses/${dev}/commands/${o.seq}`; break;
    case "transfer": case "renew": case "return": path = `/ses/${dev}/${what}`; body = ops[what]; break;
    case "command": path = `/ses/${dev}/commands`; body = ops.commands; break;
    default: {
      const op = what.slice(6);
      path = `/fleet/${op}`;
      body = Object.assign({ DevEUIs: [dev] }, ops[op]);
    }
  }
  const r = await fetch(cfg.api + path, {
    method, headers: { Authorization: "Bearer " + cfg.tokens[actor], "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let status = r.status, j = null;
  try { j = JSON.parse(text); } catch (e) { j = null; }
  // the SE's own answer inside the list's 200
  if (what.startsWith("fleet_") && status === 200 && j && j.Results && j.Results.length === 1)
    status = j.Results[0].Status;
  if (what === "bulk_claim" && status === 200 && j && j.Results && j.Results.length === 1) {
    status = j.Results[0].Status || 200;
    j = j.Results[0];
  }
  return { status, text, j, req: `${method} ${path}${body ? " " + JSON.stringify(body).replace(/"OwnerToken":"[0-9A-F]{32}"/, '"OwnerToken":"<token>"') : ""}` };
}

function cli(actor, what, dev, o, F) {
  const a = [what, dev];
  const t = actor === "op" ? [] : ["--tenant", actor];
  const jsOf = (h) => cfg.js[h];
  switch (what) {
    case "claim": a.push("--owner-token", tokenOf(SE[o.name] || {}, o.token)); a.push(...t); break;
    case "assign": {
      const js = o.js || (actor === "op" ? jsOf(F.holder || F.tenant) : cfg.js[actor]);
      a.push(...t);
      if (js) a.push("--js", js);
      break;
    }
    case "release": a.push(...t); break;
    case "transfer": {
      const to = o.to || (actor === "acme" || actor === "bolt" ? other(actor) : F.holder === "bolt" ? "acme" : "bolt");
      a.push("--to-tenant", to, "--js", o.js || cfg.js[to], ...t);
      break;
    }
    case "renew": case "return": a.push(...t); break;
    case "command": a.push("--payload", o.payload || "00", ...t); break;
    case "command-show": a.push(String(o.seq)); break;
    default: break;
  }
  const r = spawnSync(cfg.ferry, ["-d", cfg.dir, "idm", ...a], { encoding: "utf8" });
  let j = null;
  try { j = JSON.parse(r.stdout); } catch (e) { j = null; }
  // a fleet command's own answer for the SE
  const res = j && j.Results && j.Results[0];
  const msg = (res && res.Error) || r.stderr.trim();
  const printable = a.map((x, i) => (a[i - 1] === "--owner-token" && /^[0-9A-F]{32}$/.test(x) ? "<token>" : x));
  return { exit: r.status, text: r.stdout + "|" + r.stderr, msg, j, req: "ferry idm " + printable.join(" "), stderr: r.stderr };
}

const mask = (s, dev) => String(s).split(dev).join("{DevEUI}").split(dev.toLowerCase()).join("{DevEUI}");
const SINGLE_404 = new Set(["read", "release", "assign", "read_command", "relay"]);
const REFUSAL_TEXT = /no such secure element|may not do that|only a customer tenant claims|the secure element is retired|a customer holds the secure element|owner token does not match/;

// the unknown DevEUI's answer to the same request, once per request kind
const unknownCache = {};
async function unknownAnswer(actor, channel, what, o) {
  const key = [actor, channel, what, o.token || "", o.seq || ""].join(" ");
  if (!(key in unknownCache)) {
    cached = null;
    unknownCache[key] = channel === "rest" ? await rest(actor, what, cfg.nose, o, { owner: cfg.wrong })
                                           : cli(actor, what, cfg.nose, o, { holder: "", tenant: "" });
  }
  return unknownCache[key];
}

// The verdict on an answer R to a case whose table answer is e.
function judge(channel, what, act, e, R, F) {
  const problems = [];
  if (channel === "rest") {
    const s = R.status, body = R.j;
    const err = body && (body.Error || (body.Results && body.Results[0] && body.Results[0].Error));
    switch (e) {
      case "allow":
        if (act === "read") {
          if (s !== 200) problems.push("expected 200");
          else if (!body || body.State !== F.state || body.Claim !== F.claim || (F.claim === "claimed" && body.Tenant !== F.holder))
            problems.push(`expected the SE's status (${factsText(F)})`);
        } else if (act === "read_command") {
          if (s !== 200 || !body || body.Seq !== Number(R.seq)) problems.push("expected 200 and the command");
        } else if (!(s >= 200 && s < 300) && s !== 409) problems.push("allowed: expected 2xx or 409 from the state machine");
        break;
      case "claimok": if (s !== 200 || !body || body.Already !== false) problems.push("expected 200, Already false"); break;
      case "already": if (s !== 200 || !body || body.Already !== true) problems.push("expected 200, Already true"); break;
      case "400": if (s !== 400) problems.push("expected 400"); break;
      case "claim409": if (s !== 409) problems.push("expected 409"); break;
      case "nomatch":
        if (s !== 403 || (what === "bulk_claim" ? err !== JSON.parse(NOMATCH).Error : R.text !== NOMATCH))
          problems.push("expected 403 " + NOMATCH);
        break;
      case "403": if (s !== 403 || !err) problems.push("expected 403"); break;
      case "404":
        // the single forms answer exactly NOSUCH; the operations echo the DevEUI beside it
        if (s !== 404 || err !== "no such secure element" || (SINGLE_404.has(what) && R.text !== NOSUCH))
          problems.push("expected 404 " + NOSUCH);
        break;
      case "409holder": if (s !== 409 || err !== "a customer holds the secure element") problems.push("expected 409 a customer holds the secure element"); break;
      default: problems.push("no REST answer for " + e);
    }
  } else {
    const refusedMsg = REFUSAL_TEXT.test(R.msg);
    switch (e) {
      case "allow":
        if (READS.has(act)) { if (R.exit !== 0) problems.push("expected exit 0"); }
        else if (R.exit !== 0 && (refusedMsg || R.exit !== 1)) problems.push("allowed: expected exit 0, or 1 from the state machine");
        break;
      case "claimok": case "already": if (R.exit !== 0 || !R.j || R.j.Already !== (e === "already")) problems.push("expected exit 0, Already " + (e === "already")); break;
      case "retired": if (R.exit !== 1 || !/the secure element is retired/.test(R.msg)) problems.push("expected exit 1, the secure element is retired"); break;
      case "nomatch": if (R.exit !== 1 || !/the owner token does not match this DevEUI/.test(R.msg)) problems.push("expected exit 1, the owner token does not match"); break;
      case "claim409":
        if (R.exit !== 1 || !/the secure element is retired|locked by the operator|claimed by another tenant/.test(R.msg))
          problems.push("expected exit 1 with where the SE stands (retired, locked, another's)");
        break;
      case "403": if (R.exit !== 1 || !/may not do that|only a customer tenant claims/.test(R.msg)) problems.push("expected exit 1, this kind of actor may not"); break;
      case "404": if (R.exit !== 1 || !/no such secure element/.test(R.msg)) problems.push("expected exit 1, no such secure element"); break;
      case "409holder": if (R.exit !== 1 || !/a customer holds the secure element/.test(R.msg)) problems.push("expected exit 1, a customer holds the secure element"); break;
      default: problems.push("no CLI answer for " + e);
    }
    if (/Sanitizer|runtime error/.test(R.stderr)) problems.push("sanitizer report");
  }
  return problems;
}

function tags(actor, act, e, F) {
  const t = [];
  const kind = kindOf(actor);
  if (F.state === "retired") t.push(2);
  if (kind === "maker" && ["403", "404", "409holder"].includes(e)) t.push(1);
  if (kind === "customer" && (F.claim === "released" || F.claim === "refused")) t.push(3);
  if (act === "claim" && (e === "nomatch" || e === "400")) t.push(4);
  // another tenant's command, or one on an SE changing hands
  if (act === "read_command" && kind !== "operator" &&
      (F.leaving || (/^(cli:)?tenant:/.test(F.origin || "") && !queuedBy(F.origin, actor)))) t.push(6);
  if (["403", "404", "nomatch"].includes(e) && kind !== "operator") t.push(9);
  return t.length ? ` [finding${t.length > 1 ? "s" : ""} ${t.join(", ")}]` : "";
}

// One case. o: {token, seq, to, js, payload, name}. Returns whether the SE changed.
async function runCase(lab, actor, channel, what, name, o = {}) {
  const se = SE[name];
  const dev = se.dev;
  o = Object.assign({ name }, o);
  const act = channel === "rest" ? REST_ACTIONS[what] : CLI_ACTIONS[what];
  if (act === "read_command" && o.seq === "last") {
    const s = (await sql(`SELECT max(seq) FROM idm_cmd WHERE dev_eui = '${dev}'`)).trim();
    o.seq = s === "" ? "9999" : s;
  }
  const before = await read(dev, act === "read_command" ? o.seq : undefined);
  const F = before.F;
  const e = expect(actor, act, F, o);
  tally[e] = (tally[e] || 0) + 1;
  cached = null;
  const R = channel === "rest" ? await rest(actor, what, dev, o, se) : cli(actor, what, dev, o, F);
  R.seq = o.seq;
  const after = await read(dev, act === "read_command" ? o.seq : undefined);
  const problems = judge(channel, what, act, e, R, F);
  const refusal = ["403", "404", "409holder", "nomatch", "retired", "400", "claim409"].includes(e);
  if (refusal && kindOf(actor) !== "operator" && e !== "claim409" && e !== "400") {
    // byte for byte the unknown DevEUI's answer (a 409 of the table says
    // where the SE stands to whom it may know, and is not compared)
    if (e !== "409holder") {
      const U = await unknownAnswer(actor, channel, what, o);
      const a = channel === "rest" ? `${R.status} ${mask(R.text, dev)}` : `${R.exit} ${mask(R.text, dev)}`;
      const b = channel === "rest" ? `${U.status} ${mask(U.text, cfg.nose)}` : `${U.exit} ${mask(U.text, cfg.nose)}`;
      if (a !== b) problems.push(`differs from the answer for an unknown DevEUI:\n  this SE: ${a}\n  unknown: ${b}`);
    }
  }
  if (!CHANGES(e, act)) {
    if (after.snap !== before.snap) problems.push("changed:\n  before: " + before.snap.split("\n").join("\n          ") +
                                                 "\n  after:  " + after.snap.split("\n").join("\n          "));
    // a refused claim of an SE that exists is audited and, with a wrong
    // token, counted for that tenant (docs/idm.md, "Claims"); nothing else
    const audited = act === "claim" && F.exists && (e === "nomatch" || e === "claim409") ? 1 : 0;
    if (after.F.refusals !== F.refusals + audited)
      problems.push(`refused-claim audit entries ${F.refusals} -> ${after.F.refusals}, expected +${audited}`);
    const want = Object.assign({}, F.failures);
    if (act === "claim" && e === "nomatch" && F.exists && o.token === "wrong" && (want[actor] || 0) < 5)
      want[actor] = (want[actor] || 0) + 1;
    if (act === "claim" && e === "already") delete want[actor];
    const norm = (m) => JSON.stringify(Object.entries(m).filter(([, v]) => v > 0).sort());
    if (norm(after.F.failures) !== norm(want))
      problems.push(`wrong-token counts ${norm(F.failures)} -> ${norm(after.F.failures)}, expected ${norm(want)}`);
  }
  const extra = o.seq !== undefined ? ` Seq ${o.seq}` : o.token ? ` (${o.token} token)` : "";
  const got = channel === "rest" ? String(R.status) : `exit ${R.exit}`;
  const nm = `${lab}: ${actor} ${channel === "rest" ? "REST" : "CLI"} ${what}${extra} ${name} [${factsText(F)}${F.maker ? ", maker " + F.maker : ""}]: table ${e}, got ${got}${tags(actor, act, e, F)}`;
  report(problems.length === 0, nm, [R.req, "answer: " + (channel === "rest" ? R.text : R.text.trim()), ...problems].join("\n"));
  // what the state machine said to an allowed change it did not take
  if (problems.length === 0 && CHANGES(e, act) && (channel === "rest" ? R.status === 409 : R.exit !== 0))
    console.log(`# (the state machine: ${R.req} -> ${channel === "rest" ? R.text : R.msg.replace(/\s+/g, " ")})`);
  return after.snap !== before.snap;
}

// ---------------------------------------------------------------- the sweeps

const TENANTS = ["maker", "othermaker", "acme", "bolt"];
function restCases(seqs) {
  const c = [["read"], ["assign"], ["release"], ["claim", { token: "wrong" }], ["claim", { token: "right" }],
             ["claim", { token: "malformed" }], ["bulk_claim", { token: "wrong" }], ["bulk_claim", { token: "right" }],
             ["transfer"], ["renew"], ["return"], ["command"], ["relay"],
             ["fleet_transfer"], ["fleet_renew"], ["fleet_return"], ["fleet_commands"]];
  for (const s of seqs) c.push(["read_command", { seq: s }]);
  return c;
}
const CLI_TENANT = [["assign"], ["release"], ["claim", { token: "wrong" }], ["claim", { token: "right" }],
                    ["transfer"], ["renew"], ["return"], ["command"]];
const CLI_OP = [["show"], ["command"], ["return"], ["renew"], ["transfer"], ["assign"], ["provision"], ["refuse"],
                ["lock"], ["unlock"], ["retire"]];

async function sweep(lab, names, withRest, withCli, withOp, changes, cli403) {
  for (const name of names) {
    const dev = SE[name].dev;
    const seqs = (await sql(`SELECT seq FROM idm_cmd WHERE dev_eui = '${dev}' ORDER BY seq`)).split("\n").filter(Boolean);
    const seqsOf = () => seqs.concat(["9999"]);
    const plan = [];
    if (withRest)
      for (const actor of TENANTS)
        for (const [w, o] of restCases(seqsOf())) plan.push([actor, "rest", w, o || {}]);
    if (withCli)
      for (const actor of TENANTS) for (const [w, o] of CLI_TENANT) plan.push([actor, "cli", w, o || {}]);
    if (withOp) {
      for (const s of seqsOf().slice(0, -1)) plan.push(["op", "cli", "command-show", { seq: s }]);
      for (const [w] of CLI_OP) plan.push(["op", "cli", w, {}]);
    }
    for (const [actor, channel, w, o] of plan) {
      const act = channel === "rest" ? REST_ACTIONS[w] : CLI_ACTIONS[w];
      const { F } = await read(dev, act === "read_command" ? o.seq : undefined);
      const e = expect(actor, act, F, Object.assign({ name }, o));
      if (e === "unknown" || (!changes && CHANGES(e, act))) continue;
      // a 403 is the kind of actor's alone: through the CLI, on the SEs named
      if (channel === "cli" && actor !== "op" && e === "403" && cli403 && !cli403.includes(name)) continue;
      await runCase(lab, actor, channel, w, name, o);
    }
  }
}

function statusOf(names) {
  const r = spawnSync(cfg.ferry, ["-d", cfg.dir, "idm", "status", ...names.map((n) => SE[n].dev)], { encoding: "utf8" });
  return r.stdout;
}

(async () => {
  if (cmd === "facts") {
    for (const spec of args) {
      if (spec.includes("~")) { // NAME~tenant:n,...: the wrong-token counts of an SE
        const [name, want] = spec.split("~");
        const { F } = await read(SE[name].dev);
        const got = Object.entries(F.failures).filter(([, v]) => v > 0).sort().map(([t, v]) => t + ":" + v).join(",");
        report(got === want, `${label}: ${name}'s wrong owner tokens counted per tenant: ${want || "none"}`, "counts: " + got);
        continue;
      }
      const [name, want] = spec.split("=");
      const { F } = await read(SE[name].dev);
      const got = `${F.state}/${F.claim}/${F.holder}${F.leaving ? "<" + F.leaving : ""}`;
      report(got === want, `${label}: ${name} (${SE[name].dev}) is ${want}`, "facts: " + factsText(F));
    }
  } else if (cmd === "sweep") {
    const withCli = args.includes("--cli"), withOp = args.includes("--op"), changes = args.includes("--changes");
    const withRest = args.includes("--rest") || (!withCli && !withOp);
    const names = args.filter((x) => !x.startsWith("--"));
    const list = names.length ? names : cfg.ses.map((s) => s.name);
    const s0 = changes ? "" : statusOf(list);
    const t0 = Date.now();
    const c403 = args.find((x) => x.startsWith("--cli403="));
    await sweep(label, list, withRest, withCli, withOp, changes, c403 ? c403.slice(9).split(",") : null);
    if (!changes) {
      const s1 = statusOf(list);
      report(s0 === s1 && s0.includes('"SEs"'), `${label}: \`idm status\` of ${list.join(" ")} the same, whole, after the sweep's refusals`,
             "before:\n" + s0 + "\nafter:\n" + s1);
    }
    console.log(`# ${label}: ${cases} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s; table answers: ` +
                Object.entries(tally).map(([k, v]) => `${k} ${v}`).join(", "));
  } else if (cmd === "cases") {
    for (const spec of args) {
      const [actor, channel, what, name, ...kv] = spec.split(/\s+/);
      const o = Object.fromEntries(kv.map((x) => x.split("=")));
      await runCase(label, actor, channel, what, name, o);
    }
  } else {
    throw new Error("usage: facts|sweep|cases");
  }
  db.stdin.end();
  process.exitCode = bad ? 1 : 0;
})().catch((e) => { console.error(e.stack || String(e)); process.exit(2); });
