#!/usr/bin/env node
// check_vectors.js - recomputes the MLS test vectors of docs/mls.md with
// Node's OpenSSL (aes-128-ecb, aes-128-ctr, id-aes128-wrap) and a CMAC
// (RFC 4493) written here, independently of ferry's C code.
// Run: node tests/mls/check_vectors.js   (TAP on stdout; exit 0 when all match,
// so tests/run.sh can run it like any other test program)
'use strict';
const crypto = require('crypto');
const H = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function ecb(key, block) {
    const c = crypto.createCipheriv('aes-128-ecb', key, null);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(block), c.final()]);
}

function dbl(b) {  // RFC 4493 subkey doubling
    const out = Buffer.alloc(16);
    for (let i = 0; i < 16; i++)
        out[i] = ((b[i] << 1) | (i < 15 ? b[i + 1] >> 7 : 0)) & 0xff;
    if (b[0] & 0x80) out[15] ^= 0x87;
    return out;
}

function cmac(key, msg) {
    const k1 = dbl(ecb(key, Buffer.alloc(16)));
    const k2 = dbl(k1);
    const n = Math.max(1, Math.ceil(msg.length / 16));
    const complete = msg.length > 0 && msg.length % 16 === 0;
    let x = Buffer.alloc(16);
    for (let i = 0; i < n; i++) {
        let blk = Buffer.alloc(16);
        msg.copy(blk, 0, i * 16, Math.min(msg.length, i * 16 + 16));
        if (i === n - 1) {
            if (complete) {
                for (let j = 0; j < 16; j++) blk[j] ^= k1[j];
            } else {
                blk[msg.length - i * 16] = 0x80;
                for (let j = 0; j < 16; j++) blk[j] ^= k2[j];
            }
        }
        for (let j = 0; j < 16; j++) blk[j] ^= x[j];
        x = ecb(key, blk);
    }
    return x;
}

function ctr(key, iv, data) {
    const c = crypto.createCipheriv('aes-128-ctr', key, iv);
    return Buffer.concat([c.update(data), c.final()]);
}

function wrap(kek, key) {
    const c = crypto.createCipheriv('id-aes128-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
    return Buffer.concat([c.update(key), c.final()]);
}

let failures = 0, count = 0;
function expect(name, got, want) {
    const ok = Buffer.compare(got, want) === 0;
    count++;
    if (!ok) failures++;
    console.log(`${ok ? 'ok' : 'not ok'} ${count} - ${name} ${got.toString('hex').toUpperCase()}`);
}

// RFC 4493 example 2 keeps the CMAC above honest.
expect('rfc4493-ex2', cmac(H('2b7e151628aed2a6abf7158809cf4f3c'), H('6bc1bee22e409f96e93d7e117393172a')),
       H('070a16b46b4d4144f79bdd9dd04a287c'));

const root = H('2B7E151628AED2A6ABF7158809CF4F3C');
const devEui = H('70B3D57ED0000001');
const epoch = 0x03;
const derive = (label) => ecb(root, Buffer.concat([Buffer.from([label]), devEui, Buffer.from([epoch]), Buffer.alloc(6)]));
const keys = {
    enc_down: [0x01, 'E83F0FA0F6797D63E5028C540559072E'],
    mac_down: [0x02, '56CAE218B40A8F4B9D431373A2F66318'],
    wrap_down: [0x03, 'C181E5FDD49DB06EC77B27327F61509F'],
    enc_up: [0x11, '97A6833F278DAE05DFF9E221F3F3A9E3'],
    mac_up: [0x12, '52A0ABD732BD71CF641BCC3AD399549D'],
};
const k = {};
for (const [name, [label, want]] of Object.entries(keys)) {
    k[name] = derive(label);
    expect(name, k[name], H(want));
}

const nwkKey = H('000102030405060708090A0B0C0D0E0F');
const appKey = H('101112131415161718191A1B1C1D1E1F');
const nwkWrapped = wrap(k.wrap_down, nwkKey);
const appWrapped = wrap(k.wrap_down, appKey);
expect('nwk_wrapped', nwkWrapped, H('727C9B3BB8E82319D8643CF34139D53C09303C579BAE1B87'));
expect('app_wrapped', appWrapped, H('DF3FF7B8DED5FEECB0F7DCCD3300F7E6D7510EC6AA51A683'));

function seal(dir, counter, type, body, encKey, macKey) {
    const header = Buffer.from([0x01, dir, epoch, 0, 0, 0, 0, type]);
    header.writeUInt32BE(counter, 3);
    const iv = Buffer.concat([devEui, Buffer.from([dir, epoch, 0, 0, 0, 0, 0, 0])]);
    iv.writeUInt32BE(counter, 10);   // bytes 14..15: block index, from 0
    const ct = ctr(encKey, iv, body);
    const tag = cmac(macKey, Buffer.concat([devEui, header, ct])).subarray(0, 8);
    return Buffer.concat([header, ct, tag]);
}

// Install profile: id 1, JoinEUI, DevEUI, MAC 1.1, flags 0, 16 joins, 72 h, two wrapped keys.
const installBody = Buffer.concat([
    H('0001'), H('70B3D57ED0001000'), H('70B3D57ED0000042'), H('01'), H('00'), H('0010'), H('0048'),
    nwkWrapped, appWrapped]);
expect('install_body', installBody, H('000170B3D57ED000100070B3D57ED0000042010000100048' +
    '727C9B3BB8E82319D8643CF34139D53C09303C579BAE1B87DF3FF7B8DED5FEECB0F7DCCD3300F7E6D7510EC6AA51A683'));
expect('install_msg', seal(0, 5, 0x02, installBody, k.enc_down, k.mac_down), H(
    '01000300000005022F134D568817568F3A6A0E1E6C538707FD8114986094CB6B76C6BA6C435B808EA751CA16DBDE50E0' +
    '209F8EA4465ED771C4ADDDDF2C2187D939864DFFAD61A4DE8BFD5FE6503983926616ADCED2EEB5EA'));

// Response to it: req_counter 5, result OK; uplink counter 9.
expect('rsp_msg', seal(1, 9, 0x82, H('0000000500'), k.enc_up, k.mac_up),
       H('01010300000009828C092DA17AD37317C2E26172D3'));

console.log(`1..${count}`);
if (failures) {
    console.log(`# ${failures} vector(s) differ`);
    process.exit(1);
}
console.log('# all vectors match');
