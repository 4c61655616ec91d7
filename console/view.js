// view.js - small drawing helpers of the console: times, state badges and
// the overview's charts, as plain DOM (no canvas, no library), so that a
// screen reader reads the numbers too.

export function timeOf(unix) {
  if (!unix) return "—";
  const d = new Date(unix * 1000);
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

const WORDS = {
  bootstrap_join: "joined the bootstrap network",
  profile_queued: "customer profile queued",
  profile_acked: "profile delivered",
  delivery_failed: "delivery failed",
  customer_join: "joined the customer network",
  fallback_reported: "fell back to its previous profile",
  transfer_requested: "transfer requested",
  return_requested: "returned to bootstrap",
  retire: "retired",
  update_failed: "update did not take",
};
export function eventWords(ev) { return WORDS[ev] || ev; }

export function stateBadge(state) {
  const s = document.createElement("span");
  s.className = "state " + state;
  s.textContent = state.replace(/_/g, " ");
  return s;
}

// rows: [[label, n], ...] as horizontal bars, widths relative to the largest.
export function renderBars(el, rows, bad) {
  el.replaceChildren();
  const max = Math.max(1, ...rows.map(([, n]) => n));
  if (rows.length === 0) { el.textContent = "none"; return; }
  for (const [label, n] of rows) {
    const row = document.createElement("div");
    row.className = "bar" + (bad ? " bad" : "");
    const l = document.createElement("span"); l.textContent = label.replace(/_/g, " ");
    const track = document.createElement("span");
    const fill = document.createElement("span"); fill.className = "fill";
    fill.style.width = (100 * n / max) + "%";
    track.append(fill);
    const v = document.createElement("span"); v.textContent = n;
    row.append(l, track, v);
    el.append(row);
  }
}

// hours: [[unixHour, n], ...] as columns.
export function renderHours(el, hours) {
  el.replaceChildren();
  const max = Math.max(1, ...hours.map(([, n]) => n));
  for (const [h, n] of hours) {
    const c = document.createElement("span");
    c.className = "h";
    c.style.height = (100 * n / max) + "%";
    c.title = `${new Date(h * 1000).toISOString().slice(11, 16)} UTC: ${n}`;
    el.append(c);
  }
  el.setAttribute("aria-label", "Activations per hour: " + hours.map(([, n]) => n).join(", "));
}
