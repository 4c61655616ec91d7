// app.js - the activation console (docs/console.md): plain ES modules, no
// framework, no build step; everything it needs is served by `idm serve`.
// The token lives in sessionStorage (this tab only) and goes in an
// Authorization header, never in a URL the server sees.
import { Api, ApiError, liveStream, parseClaimLine, explain } from "./api.js";
import { timeOf, stateBadge, renderBars, renderHours, eventWords } from "./view.js";

const $ = (id) => document.getElementById(id);
const KEY = "ferry.console.token";
const OPS = {
  transfer: { path: "transfer", title: "Transfer",
    text: (n) => `Transfer ${n} secure element${n === 1 ? "" : "s"} to another customer? Each gets the new owner's profile over the air (through its current network) and joins the new owner's Join Server; yours forgets it once it joined. If the new network never answers, the device falls back to your profile and stays yours.` },
  renew: { path: "renew", title: "Renew keys",
    text: (n) => `Renew the root keys of ${n} secure element${n === 1 ? "" : "s"}? Each gets new keys over the air and joins again with them; the old keys keep working until it has.` },
  return: { path: "return", title: "Return to bootstrap",
    text: (n) => `Return ${n} secure element${n === 1 ? "" : "s"} to bootstrap? Each erases its customer profiles and goes back to its bootstrap profile; you no longer hold it, and anyone with its owner token may claim it again.` },
  command: { path: "commands", title: "Secure command",
    text: (n) => `Send a secure command to ${n} secure element${n === 1 ? "" : "s"}? Each device application receives the bytes, and its reply comes back here.` },
};

const st = {
  api: null, me: null, stop: null, view: null,
  rows: [], cursors: [null], page: 0, next: null, sort: { key: "dev_eui", desc: false },
  selected: new Set(), se: null, watch: new Map(), reloadTimer: null,
};

// ---------------------------------------------------------------- notices

function notice(text) {
  const n = $("notice");
  n.textContent = text || "";
  n.hidden = !text;
}
function fail(e) {
  if (e instanceof ApiError && e.status === 401) { signOut("Your token is no longer accepted: sign in again."); return; }
  notice(e instanceof ApiError ? e.message : String(e));
}

// ---------------------------------------------------------------- sign-in

async function signIn(token) {
  const api = new Api(token);
  const me = await api.get("/api/v1/me");
  sessionStorage.setItem(KEY, token);
  st.api = api; st.me = me;
  $("who-name").textContent = me.Kind === "operator" ? `operator ${me.NetID} (${me.Name})` : `${me.Tenant} (${me.Kind})`;
  $("who").hidden = false;
  $("nav").hidden = false;
  const op = me.Kind === "operator";
  $("nav-fleet").hidden = op; $("nav-claim").hidden = op || me.Kind !== "customer";
  if (!op) {
    st.stop = liveStream(token, onLive, (text, on) => { const l = $("live"); l.textContent = text; l.classList.toggle("on", on); });
    await loadJoinServers();
  }
  show(op ? "overview" : "fleet");
}

function signOut(why) {
  if (st.stop) st.stop();
  sessionStorage.removeItem(KEY);
  Object.assign(st, { api: null, me: null, stop: null });
  $("who").hidden = true; $("nav").hidden = true;
  show("signin");
  const e = $("signin-error");
  e.textContent = why || ""; e.hidden = !why;
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const t = $("token").value.trim();
  $("signin-error").hidden = true;
  try {
    await signIn(t);
    $("token").value = "";
  } catch (e) {
    const err = $("signin-error");
    err.textContent = e instanceof ApiError && e.status === 401
      ? "Sign-in failed: this token is not a tenant's or an operator's. Paste the whole token from your token file and try again."
      : (e.message || String(e));
    err.hidden = false;
    $("token").focus();
  }
});
$("signout").addEventListener("click", () => signOut(""));

// ---------------------------------------------------------------- views

function show(view) {
  st.view = view;
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + view;
  for (const b of document.querySelectorAll("#nav button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  notice("");
  if (view === "fleet") loadFleet();
  if (view === "overview") loadOverview();
  if (view === "claim") $("claim-lines").focus();
  const h = document.querySelector(`#view-${view} h2`);
  if (h && view !== "claim") { h.tabIndex = -1; h.focus(); }
}
for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => show(b.dataset.view));

// ---------------------------------------------------------------- fleet

async function loadJoinServers() {
  const doc = await st.api.get("/api/v1/joinservers");
  for (const sel of [$("f-js"), $("claim-js")]) {
    while (sel.options.length > 1) sel.remove(1);
    for (const j of doc.JoinServers) sel.add(new Option(`${j.ID} (${j.JoinEUI})`, j.ID));
  }
}

// The filter and the sort as the server takes them; cursor: a page's Next.
function query(cursor) {
  const p = new URLSearchParams();
  for (const k of ["state", "claim", "js", "prefix", "limit"]) {
    const v = $("f-" + k).value.trim();
    if (v) p.set(k, v);
  }
  p.set("sort", st.sort.key);
  p.set("order", st.sort.desc ? "desc" : "asc");
  if (cursor) p.set("cursor", cursor);
  return p.toString();
}

// The filter in words, for a confirmation.
function filterWords() {
  const w = [];
  const v = (k) => $("f-" + k).value.trim();
  if (v("state")) w.push(`state ${v("state").replace(/_/g, " ")}`);
  if (v("claim")) w.push(`claim ${v("claim")}`);
  if (v("js")) w.push(`Join Server ${v("js")}`);
  if (v("prefix")) w.push(`DevEUI starting with ${v("prefix").toUpperCase()}`);
  return w.length ? w.join(", ") : "no filter: your whole fleet";
}

async function loadFleet() {
  try {
    const doc = await st.api.get("/api/v1/ses?" + query(st.cursors[st.page]));
    st.rows = doc.SEs; st.next = doc.Next;
    renderFleet();
  } catch (e) { fail(e); }
}

// Rows in the server's order: the sort covers every page, not only this one.
function renderFleet() {
  const rows = st.rows;
  const body = $("fleet-body");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.dev = r.DevEUI;
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.checked = st.selected.has(r.DevEUI);
    cb.setAttribute("aria-label", "Select " + r.DevEUI);
    cb.addEventListener("change", () => { cb.checked ? st.selected.add(r.DevEUI) : st.selected.delete(r.DevEUI); selection(); });
    const link = document.createElement("a");
    link.href = "#se"; link.textContent = r.DevEUI; link.className = "mono";
    link.addEventListener("click", (ev) => { ev.preventDefault(); openSE(r.DevEUI); });
    const cells = [cb, link, stateBadge(r.State), r.Claim, r.JoinServer || "—",
      r.ProfileID ? `customer #${r.ProfileID}` : "bootstrap", timeOf(r.LastEventAt),
      r.PendingCommands + (r.Update ? ` (${r.Update})` : "")];
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.append(c); else td.textContent = c;
      tr.append(td);
    }
    tr.children[2].dataset.col = "state";
    body.append(tr);
  }
  $("fleet-caption").textContent = `Your secure elements: ${rows.length} on this page`;
  $("page-info").textContent = `Page ${st.page + 1}`;
  $("page-prev").disabled = st.page === 0;
  $("page-next").disabled = !st.next;
  for (const b of document.querySelectorAll("th button.sort")) {
    if (b.dataset.key === st.sort.key) b.parentElement.setAttribute("aria-sort", st.sort.desc ? "descending" : "ascending");
    else b.parentElement.removeAttribute("aria-sort");
  }
  selection();
}

function selection() {
  const n = st.selected.size, all = $("act-all").checked;
  $("sel-count").textContent = all ? "All that match the filter:" : `${n} selected`;
  for (const id of ["act-transfer", "act-renew", "act-return", "act-command"]) $(id).disabled = n === 0 && !all;
  const kind = st.me && st.me.Kind;
  $("act-transfer").hidden = kind !== "customer"; $("act-renew").hidden = kind !== "customer";
  $("sel-all").checked = st.rows.length > 0 && st.rows.every((r) => st.selected.has(r.DevEUI));
}

$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); st.cursors = [null]; st.page = 0; st.selected.clear(); loadFleet(); });
$("page-next").addEventListener("click", () => { st.cursors[st.page + 1] = st.next; st.page++; loadFleet(); });
$("page-prev").addEventListener("click", () => { st.page = Math.max(0, st.page - 1); loadFleet(); });
$("sel-all").addEventListener("change", (ev) => {
  for (const r of st.rows) ev.target.checked ? st.selected.add(r.DevEUI) : st.selected.delete(r.DevEUI);
  renderFleet();
});
// A column's button sorts the whole fleet on the server (again: the other
// way); paging starts over, since a cursor belongs to one order.
for (const b of document.querySelectorAll("th button.sort"))
  b.addEventListener("click", () => {
    st.sort = { key: b.dataset.key, desc: st.sort.key === b.dataset.key ? !st.sort.desc : false };
    st.cursors = [null]; st.page = 0;
    loadFleet();
  });
$("act-all").addEventListener("change", selection);

// ---------------------------------------------------------------- actions

function ask(op, devs, matching) {
  const d = $("confirm");
  $("confirm-h").textContent = OPS[op].title;
  $("confirm-text").textContent = (matching ? `These are all ${devs.length} secure element${devs.length === 1 ? "" : "s"} that match ${matching}. ` : "") +
    OPS[op].text(devs.length);
  const f = $("confirm-fields");
  f.replaceChildren();
  const field = (id, label, required, pattern) => {
    const l = document.createElement("label");
    l.textContent = label;
    const i = document.createElement("input");
    i.id = id; i.required = required; i.spellcheck = false;
    if (pattern) i.pattern = pattern;
    l.append(i); f.append(l);
  };
  if (op === "transfer") { field("c-tenant", "New owner (tenant id)", true); field("c-js", "Its Join Server (optional)", false); }
  if (op === "command") field("c-payload", "Payload (hex, 1 to 1003 bytes)", true, "([0-9A-Fa-f]{2}){1,1003}");
  return new Promise((resolve) => {
    d.addEventListener("close", () => {
      if (d.returnValue !== "ok") return resolve(null);
      const body = { DevEUIs: devs };
      if (op === "transfer") { body.Tenant = $("c-tenant").value.trim(); if ($("c-js").value.trim()) body.JoinServer = $("c-js").value.trim(); }
      if (op === "command") body.Payload = $("c-payload").value.trim();
      resolve(body);
    }, { once: true });
    d.returnValue = "";
    d.showModal();
  });
}

// Every DevEUI the filter matches, in the table's order, a page (of the
// chosen size) at a time; null when the user cancelled or it failed.
async function matchingDevs() {
  const devs = [];
  let cursor = null;
  const bulk = $("bulk-status");
  do {
    bulk.textContent = `Finding the secure elements that match… ${devs.length} so far`;
    const doc = await st.api.get("/api/v1/ses?" + query(cursor));
    devs.push(...doc.SEs.map((r) => r.DevEUI));
    cursor = doc.Next;
  } while (cursor);
  bulk.textContent = "";
  return devs;
}

// A selection, or every SE that matches the filter: confirmed with the
// exact count, then sent in batches the server takes (FleetMax per
// request, and no more than a page), each SE followed until it confirms.
async function act(op, selected, fromFleet) {
  const all = fromFleet && $("act-all").checked;
  let devs = selected;
  notice("");
  try { if (all) devs = await matchingDevs(); } catch (e) { $("bulk-status").textContent = ""; fail(e); return; }
  if (devs.length === 0) { notice("No secure element matches the filter: nothing to do."); return; }
  const body = await ask(op, devs, all ? filterWords() : null);
  if (!body) return;
  const size = Math.max(1, Math.min(st.me.FleetMax || 1000, Number($("f-limit").value) || 100));
  const group = devs.length > 1 ? progressGroup(op, devs.length, all ? filterWords() : null) : null;
  const bulk = $("bulk-status");
  let sent = 0;
  try {
    for (let i = 0; i < devs.length; i += size) {
      bulk.textContent = `${OPS[op].title}: sending ${sent} of ${devs.length}…`;
      const part = Object.assign({}, body, { DevEUIs: devs.slice(i, i + size) });
      const doc = await st.api.post("/api/v1/fleet/" + OPS[op].path, part);
      for (const r of doc.Results) track(op, r, body, group);
      sent += part.DevEUIs.length;
    }
    bulk.textContent = `${OPS[op].title}: all ${devs.length} sent; each line below follows its device until it confirms.`;
  } catch (e) {
    bulk.textContent = `${OPS[op].title}: stopped after ${sent} of ${devs.length}; the other ${devs.length - sent} were not sent and are unchanged.`;
    fail(e);
  }
  st.selected.clear();
  $("act-all").checked = false; /* acting on everything again is asked for again */
  if (st.view === "fleet") loadFleet();
}

// One summary line for an action on many SEs: how many confirmed, refused
// or still waiting.
function progressGroup(op, total, matching) {
  const li = document.createElement("li");
  li.className = "summary";
  const g = { total, done: 0, failed: 0, li };
  g.update = () => {
    const waiting = g.total - g.done - g.failed;
    li.textContent = `${OPS[op].title} on ${total} secure elements${matching ? ` (all that match ${matching})` : ""}: ` +
      `${g.done} confirmed, ${g.failed} refused or failed, ${waiting} waiting`;
  };
  g.update();
  $("progress").prepend(li);
  return g;
}

// One line per SE acted on, kept until the SE itself confirmed (or refused).
function track(op, r, body, group) {
  const li = document.createElement("li");
  li.dataset.dev = r.DevEUI;
  let ended = false;
  const say = (text, cls) => {
    li.textContent = `${r.DevEUI}: ${text}`; li.className = cls || "";
    if (group && !ended && (cls === "done" || cls === "failed")) { ended = true; group[cls]++; group.update(); }
  };
  if (group) group.li.after(li); else $("progress").prepend(li);
  if (r.Error) { say(`${OPS[op].title} refused. ${explain(r.Status, r.Error)}`, "failed"); return; }
  const w = { op, say, li, seq: r.Seq, tenant: body.Tenant, since: Date.now() };
  if (op === "transfer") say(`queued for ${body.Tenant}: waiting for the device to take the new profile…`);
  if (op === "renew") say("queued: waiting for the device to take its new keys and join with them…");
  if (op === "return") say("queued: waiting for the device to acknowledge…");
  if (op === "command") say(`command ${r.Seq} queued: waiting for the device's reply…`);
  st.watch.set(r.DevEUI + ":" + op, w);
  poll(r.DevEUI, w);
}

// What the stream cannot tell (a command's reply; an SE that left the
// caller's reach), a slow poll finds out.
async function poll(dev, w) {
  const key = dev + ":" + w.op;
  while (st.watch.get(key) === w && st.api) {
    /* every 2 s, slower when many are followed: at most about 20 requests a second in all */
    await new Promise((res) => setTimeout(res, Math.max(2000, 50 * st.watch.size)));
    try {
      if (w.op === "command") {
        const c = await st.api.get(`/api/v1/ses/${dev}/commands/${w.seq}`);
        if (c.State === "done") { w.say(`command ${w.seq} done; the device replied ${c.Reply ? c.Reply.toUpperCase() : "(nothing)"}`, "done"); st.watch.delete(key); }
        if (c.State === "failed") { w.say(`command ${w.seq} failed (result ${c.Result}): the device or its application refused it`, "failed"); st.watch.delete(key); }
        if (!st.watch.has(key) && st.view === "fleet") loadFleet(); /* its pending count */
      } else {
        await st.api.get(`/api/v1/ses/${dev}`);
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && (w.op === "transfer" || w.op === "return")) {
        w.say(w.op === "transfer" ? `handed over to ${w.tenant}: it is theirs now, and their console shows it become active`
                                  : "returned: the device is back on its bootstrap profile and no longer yours", "done");
        st.watch.delete(key);
      }
    }
  }
}

for (const op of Object.keys(OPS)) {
  $("act-" + op).addEventListener("click", () => act(op, [...st.selected], true));
  $("se-" + op).addEventListener("click", () => st.se && act(op, [st.se], false));
}

// ---------------------------------------------------------------- live updates

function onLive(name, d) {
  if (name === "unauthorized") { signOut("Your token is no longer accepted: sign in again."); return; }
  if (name !== "change") return;
  const row = st.rows.find((r) => r.DevEUI === d.DevEUI);
  if (row) {
    row.State = d.To; row.LastEventAt = d.At;
    const tr = document.querySelector(`#fleet-body tr[data-dev="${d.DevEUI}"]`);
    if (tr) {
      tr.querySelector('[data-col="state"]').replaceChildren(stateBadge(d.To));
      tr.children[6].textContent = timeOf(d.At);
      tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash");
    }
  }
  if (st.view === "fleet") {
    clearTimeout(st.reloadTimer); /* the whole row again (pending work), or an SE new to this page */
    st.reloadTimer = setTimeout(loadFleet, 1500);
  }
  for (const op of ["renew", "transfer"]) {
    const w = st.watch.get(d.DevEUI + ":" + op);
    if (!w) continue;
    if (d.Event === "customer_join" && d.To === "active_at_customer") {
      w.say(op === "renew" ? "done: the device joined with its new keys" : "done: the device joined its new owner", "done");
      st.watch.delete(d.DevEUI + ":" + op);
    } else if (d.Event === "update_failed") {
      w.say(`did not take: the device runs its previous profile (${d.To}); try again later`, "failed");
      st.watch.delete(d.DevEUI + ":" + op);
    } else {
      w.say(`${eventWords(d.Event)} (${d.To})…`);
    }
  }
  if (st.view === "se" && st.se === d.DevEUI) addTimeline(d);
  if (st.view === "overview") { clearTimeout(st.reloadTimer); st.reloadTimer = setTimeout(loadOverview, 800); }
}

// ---------------------------------------------------------------- one SE

function addTimeline(e) {
  const li = document.createElement("li");
  const t = document.createElement("time");
  t.dateTime = new Date(e.At * 1000).toISOString();
  t.textContent = timeOf(e.At);
  li.append(t);
  const what = e.Event ? `${eventWords(e.Event)}: ${e.From} → ${e.To}` : e.Action.replace(/^idm\./, "");
  li.append(what + (e.Details && Object.keys(e.Details).length ? " " + JSON.stringify(e.Details) : ""));
  li.dataset.seq = e.Seq;
  if (!document.querySelector(`#timeline li[data-seq="${e.Seq}"]`)) $("timeline").append(li);
}

async function openSE(dev) {
  st.se = dev;
  show("se");
  $("se-h").textContent = "Secure element " + dev;
  $("timeline").replaceChildren();
  try {
    const s = await st.api.get(`/api/v1/ses/${dev}`);
    const dl = $("se-facts");
    dl.replaceChildren();
    for (const [k, v] of [["State", s.State], ["Claim", s.Claim], ["Holder", s.Tenant || "—"],
      ["Join Server", s.JoinServer || "—"], ["Pending commands", String(s.PendingCommands)]]) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      dl.append(dt, dd);
    }
    let cursor = null;
    do {
      const h = await st.api.get(`/api/v1/ses/${dev}/history?limit=500` + (cursor ? "&cursor=" + cursor : ""));
      h.Entries.forEach(addTimeline);
      cursor = h.Next;
    } while (cursor);
    const cmds = $("se-commands");
    cmds.replaceChildren();
    let cc = null;
    do {
      const c = await st.api.get("/api/v1/commands?limit=500" + (cc ? "&cursor=" + cc : ""));
      for (const k of c.Commands.filter((x) => x.DevEUI === dev)) {
        const tr = document.createElement("tr");
        for (const v of [k.Seq, k.State, k.Result ?? "—", k.Reply || "—", timeOf(k.CreatedAt)]) {
          const td = document.createElement("td"); td.textContent = v; tr.append(td);
        }
        cmds.append(tr);
      }
      cc = c.Next;
    } while (cc);
  } catch (e) { fail(e); }
}

// ---------------------------------------------------------------- claim

$("claim-file").addEventListener("change", async (ev) => {
  const f = ev.target.files[0];
  if (f) $("claim-lines").value += ($("claim-lines").value ? "\n" : "") + (await f.text());
});

if ("BarcodeDetector" in window) {
  $("claim-camera").hidden = false;
  $("claim-camera").addEventListener("click", async () => {
    const video = $("claim-video");
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream; video.hidden = false; await video.play();
      const det = new BarcodeDetector({ formats: ["qr_code"] });
      const found = await new Promise((resolve) => {
        const tick = async () => {
          const codes = await det.detect(video).catch(() => []);
          if (codes.length) resolve(codes[0].rawValue); else requestAnimationFrame(tick);
        };
        tick();
      });
      stream.getTracks().forEach((t) => t.stop());
      video.hidden = true;
      $("claim-lines").value += ($("claim-lines").value ? "\n" : "") + found;
    } catch (e) {
      notice("The camera could not be used (" + e.name + "): paste the QR payload or upload a file instead.");
    }
  });
}

$("claim-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const lines = $("claim-lines").value.split("\n");
  const body = $("claim-body");
  body.replaceChildren();
  $("claim-table").hidden = false;
  const row = (line, dev, text, ok) => {
    const tr = document.createElement("tr");
    tr.className = ok ? "done" : "failed";
    for (const v of [String(line), dev || "—", text]) { const td = document.createElement("td"); td.textContent = v; tr.append(td); }
    body.append(tr);
    return tr;
  };
  const entries = [];
  lines.forEach((l, i) => {
    const p = parseClaimLine(l);
    if (p === null) return;
    if (p.error) row(i + 1, null, "not sent: " + p.error, false);
    else entries.push({ line: i + 1, DevEUI: p.DevEUI, OwnerToken: p.OwnerToken });
  });
  let claimed = 0, failed = body.children.length;
  const js = $("claim-js").value;
  $("claim-summary").textContent = `Claiming ${entries.length}…`;
  try {
    for (let i = 0; i < entries.length; i += 1000) {
      const part = entries.slice(i, i + 1000);
      const doc = await st.api.post("/api/v1/claims", { Claims: part.map((e) => ({ DevEUI: e.DevEUI, OwnerToken: e.OwnerToken })) });
      for (let k = 0; k < part.length; k++) {
        const r = doc.Results[k];
        if (r.Error) { failed++; row(part[k].line, part[k].DevEUI, explain(r.Status, r.Error), false); continue; }
        let text = r.Already ? "already yours" : "claimed";
        if (js) {
          try { await st.api.post(`/api/v1/ses/${r.DevEUI}/assign`, { JoinServer: js }); text += `, assigned to ${js}`; }
          catch (e) { text += `, but not assigned: ${e.message}`; }
        }
        claimed++;
        row(part[k].line, r.DevEUI, text, true);
      }
    }
  } catch (e) { fail(e); }
  for (const e of entries) e.OwnerToken = "";
  [...body.children].sort((a, b) => Number(a.firstChild.textContent) - Number(b.firstChild.textContent))
    .forEach((tr) => body.append(tr)); /* in the order of the lines */
  $("claim-summary").textContent = `${claimed} claimed, ${failed} failed.`;
  $("claim-lines").value = "";
});

// ---------------------------------------------------------------- overview

async function loadOverview() {
  const op = st.me && st.me.Kind === "operator";
  $("ov-tenant").hidden = op; $("ov-operator").hidden = !op;
  try {
    if (op) {
      const d = await st.api.get("/api/v1/operator");
      $("op-activations").textContent = d.Activations;
      renderBars($("op-refusals"), Object.entries(d.Refusals), true);
      const tb = $("op-counters").tBodies[0];
      tb.replaceChildren();
      for (const c of d.Counters) {
        const tr = document.createElement("tr");
        for (const v of [c.Request, c.Result, c.Count]) { const td = document.createElement("td"); td.textContent = v; tr.append(td); }
        tb.append(tr);
      }
      return;
    }
    const d = await st.api.get("/api/v1/overview");
    const states = Object.entries(d.States).filter(([k]) => k !== "retired");
    renderBars($("ov-states"), states, false);
    const sr = $("ov-states-table").tBodies[0];
    sr.replaceChildren();
    for (const [k, v] of states) {
      const tr = document.createElement("tr");
      for (const x of [k, v]) { const td = document.createElement("td"); td.textContent = x; tr.append(td); }
      sr.append(tr);
    }
    renderHours($("ov-hours"), d.Hours.map((h) => [h.Hour, h.Events.customer_join || 0]));
    const fb = $("ov-failures").tBodies[0];
    fb.replaceChildren();
    for (const k of ["delivery_failed", "update_failed", "fallback_reported"]) {
      const tr = document.createElement("tr");
      for (const v of [eventWords(k), d.Events[k] || 0]) { const td = document.createElement("td"); td.textContent = v; tr.append(td); }
      fb.append(tr);
    }
  } catch (e) { fail(e); }
}

// ---------------------------------------------------------------- start

// A token handed over once in the URL fragment (never sent to the server):
// taken, then removed from the address bar and the history entry.
function fragmentToken() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", location.pathname);
  return decodeURIComponent(m[1]);
}

async function start(token) {
  if (!token) { show("signin"); return; }
  if (st.stop) st.stop();
  try { await signIn(token); } catch (e) {
    signOut(e instanceof ApiError && e.status === 401
      ? "Sign-in failed: this token is not a tenant's or an operator's. Paste the whole token from your token file and try again."
      : e.message);
  }
}

window.addEventListener("hashchange", () => { const t = fragmentToken(); if (t) start(t); });
start(fragmentToken() || sessionStorage.getItem(KEY));
