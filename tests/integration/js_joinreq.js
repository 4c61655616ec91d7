// js_joinreq.js - shared by js_kill_client.js and js_shared_client.js: the
// body of a TS002 1.0 JoinReq from NetID 000013 for dev = {eui, key, mac},
// its PHYPayload built and MIC-signed by lora-packet, and the opening of
// the JoinAns's accept (decrypted and MIC-checked with the device's key).
"use strict";
const lp = require("lora-packet");
const H = (s) => Buffer.from(s, "hex");

function joinReqBody(joinEui, dev, nonce, tx) {
  const dn = Buffer.alloc(2); dn.writeUInt16BE(nonce);
  const phy = lp.fromFields({ MType: "Join Request", AppEUI: H(joinEui), DevEUI: H(dev.eui), DevNonce: dn },
    undefined, undefined, H(dev.key)).getPHYPayload().toString("hex");
  return JSON.stringify({ ProtocolVersion: "1.0", SenderID: "000013", ReceiverID: joinEui, TransactionID: tx,
    MessageType: "JoinReq", MACVersion: dev.mac, PHYPayload: phy, DevEUI: dev.eui, DevAddr: "26011234",
    DLSettings: "00", RxDelay: 1 });
}

// {micOk, joinNonce} of a JoinAns's PHYPayload
function openAccept(dev, ans) {
  const plain = lp.fromWire(lp.decryptJoinAccept(lp.fromWire(H(ans.PHYPayload)), H(dev.key)));
  return { micOk: lp.verifyMIC(plain, undefined, H(dev.key)), joinNonce: plain.AppNonce.readUIntBE(0, 3) };
}

module.exports = { joinReqBody, openAccept };
