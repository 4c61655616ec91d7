// udp_shift.js - a Semtech UDP proxy between simulated gateways and a lab
// network server that moves every downlink (PULL_RESP txpk) out of the
// window the network server chose, to test the devices' receive windows:
//   rx2         into RX2: tmst + 1 s, 869.525 MHz, DR0 (SF12BW125)
//   offchannel  RX1's time and data rate on 867.9 MHz, a frequency no
//               uplink used: a class A device must not hear it
// Usage: node udp_shift.js MODE LISTEN_PORT NS_PORT (prints {"listening":PORT}
// once bound, {"shifted":N} at SIGTERM)
'use strict';
const dgram = require('dgram');
const [mode, listenPort, nsPort] = [process.argv[2], +process.argv[3], +process.argv[4]];
if (!['rx2', 'offchannel'].includes(mode) || !listenPort || !nsPort) {
  console.error('usage: node udp_shift.js rx2|offchannel LISTEN_PORT NS_PORT');
  process.exit(2);
}
const front = dgram.createSocket('udp4');
const legs = new Map(); // gateway address:port -> socket towards the NS
let shifted = 0;

function shift(msg) {
  if (msg.length < 4 || msg[3] !== 0x03) return msg; // only PULL_RESP carries a txpk
  const o = JSON.parse(msg.subarray(4).toString());
  const t = o.txpk;
  if (mode === 'rx2') {
    t.tmst = (t.tmst + 1000000) >>> 0;
    t.freq = 869.525;
    t.datr = 'SF12BW125';
  } else {
    t.freq = 867.9;
  }
  shifted++;
  return Buffer.concat([msg.subarray(0, 4), Buffer.from(JSON.stringify(o))]);
}

front.on('message', (msg, rinfo) => {
  const key = `${rinfo.address}:${rinfo.port}`;
  let leg = legs.get(key);
  if (!leg) {
    leg = dgram.createSocket('udp4');
    leg.on('message', (m) => front.send(shift(m), rinfo.port, rinfo.address));
    leg.bind(0, '127.0.0.1');
    legs.set(key, leg);
  }
  leg.send(msg, nsPort, '127.0.0.1');
});
process.on('SIGTERM', () => {
  console.log(JSON.stringify({ shifted }));
  process.exit(0);
});
// one line once bound: what the test waits for before sending through it
front.bind(listenPort, '127.0.0.1', () => console.log(JSON.stringify({ listening: listenPort })));
