// chaos.js - chaos.sh's reading of the device reports (`ferry lab devices`
// JSON) and of `idm status`.
//
//   node chaos.js last DIR REPORT...
//       one line per device, from the last of the reports (in the order
//       given) in which it appears: DEVEUI JOINEUI JOINED ONTRIAL ACTIVESLOT
//       MLSDOWNCOUNTER, DevEUI upper case, sorted. A missing or unreadable
//       report (its run never happened) is skipped.
//   node chaos.js ok DIR JOINEUI TENANT REPORT...
//       how many devices are where the scenario puts them: in their last
//       report joined on JOINEUI with the trial over and a customer slot
//       active, and in DIR/status.json (`idm status`) active_at_customer,
//       held by TENANT, with no update or command in flight.
//   node chaos.js retries DIR REPORT...
//       what the devices repeated, summed over every report:
//       "JOINREQUESTS JOINS REJOINS LINKCHECKS" (join-requests beyond the
//       joins are retries; rejoins: joins begun because the network stopped
//       answering).
"use strict";
const fs = require("fs");

// Every device of every report, in the order given; a missing or
// unreadable report (its run never happened) is skipped.
function* devicesOf(dir, names) {
    for (const name of names) {
        let o;
        try {
            o = JSON.parse(fs.readFileSync(`${dir}/${name}.json`, "utf8"));
        } catch (e) {
            continue;
        }
        yield* o.devices || [];
    }
}

function lastReports(dir, names) {
    const last = new Map();
    for (const d of devicesOf(dir, names)) last.set(d.DevEUI.toUpperCase(), d);
    return last;
}

const [cmd, dir, ...rest] = process.argv.slice(2);
if (cmd === "last") {
    const last = lastReports(dir, rest);
    const lines = [...last.entries()].sort().map(([eui, d]) =>
        [eui, d.JoinEUI.toUpperCase(), d.Joined, d.OnTrial, d.ActiveSlot, d.MLSDownCounter].join(" "));
    if (lines.length > 0) console.log(lines.join("\n"));
} else if (cmd === "ok") {
    const [joinEui, tenant, ...names] = rest;
    const last = lastReports(dir, names);
    let ses = [];
    try {
        ses = JSON.parse(fs.readFileSync(`${dir}/status.json`, "utf8")).SEs || [];
    } catch (e) {
        ses = [];
    }
    let n = 0;
    for (const s of ses) {
        const d = last.get(String(s.DevEUI).toUpperCase());
        if (d && d.JoinEUI.toUpperCase() === joinEui.toUpperCase() && d.Joined && !d.OnTrial && d.ActiveSlot > 0 &&
            s.State === "active_at_customer" && s.Tenant === tenant && !s.Update && !s.PendingCommands)
            n++;
    }
    console.log(n);
} else if (cmd === "retries") {
    const sum = [0, 0, 0, 0];
    for (const d of devicesOf(dir, rest)) {
        sum[0] += d.JoinRequests;
        sum[1] += d.Joins;
        sum[2] += d.Rejoins;
        sum[3] += d.LinkChecks;
    }
    console.log(sum.join(" "));
} else {
    console.error("usage: node chaos.js last|retries DIR REPORT... | ok DIR JOINEUI TENANT REPORT...");
    process.exit(2);
}
