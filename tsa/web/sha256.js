/*
 * sha256.js - incremental SHA-256 (FIPS 180-4) for the verification page.
 * WebCrypto's digest() takes the whole input at once, so a 1 GiB document
 * would have to sit in memory; this one is fed chunk by chunk in a Worker
 * (hash-worker.js).  Tested against WebCrypto and sha256sum in
 * tests/e2e/verify_page.py.  Usage: var h = new Sha256(); h.update(u8); ...;
 * h.hex().
 */
"use strict";
var Sha256 = (function () {
  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);

  function Sha256() {
    this.h = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.w = new Int32Array(64);   /* Int32: values stay small integers for the JIT */
    this.buf = new Uint8Array(64);
    this.fill = 0;        /* bytes waiting in buf */
    this.total = 0;       /* bytes hashed so far (exact up to 2^53) */
  }

  /* Compress the 64-byte blocks of d[off .. off + n*64). */
  Sha256.prototype.blocks = function (d, off, n) {
    var w = this.w, h = this.h, i, j, t1, t2, a, b, c, e, f, g, hh, dd, x, y;
    for (j = 0; j < n; j++, off += 64) {
      for (i = 0; i < 16; i++) {
        x = off + i * 4;
        w[i] = (d[x] << 24) | (d[x + 1] << 16) | (d[x + 2] << 8) | d[x + 3];
      }
      for (i = 16; i < 64; i++) {
        x = w[i - 15]; y = w[i - 2];
        w[i] = ((((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
                (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) +
                w[i - 7] + w[i - 16]) | 0;
      }
      a = h[0]; b = h[1]; c = h[2]; dd = h[3]; e = h[4]; f = h[5]; g = h[6]; hh = h[7];
      for (i = 0; i < 64; i++) {
        t1 = (hh + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
              ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
              ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + dd) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
    }
  };

  Sha256.prototype.update = function (d) {
    var off = 0, n = d.length, take;
    this.total += n;
    if (this.fill > 0) {
      take = Math.min(64 - this.fill, n);
      this.buf.set(d.subarray(0, take), this.fill);
      this.fill += take; off = take;
      if (this.fill < 64) { return this; }
      this.blocks(this.buf, 0, 1);
      this.fill = 0;
    }
    take = (n - off) >> 6;
    this.blocks(d, off, take);
    off += take * 64;
    this.buf.set(d.subarray(off), 0);
    this.fill = n - off;
    return this;
  };

  /* The digest as 64 lowercase hex digits; the object is spent afterwards. */
  Sha256.prototype.hex = function () {
    var bits = this.total * 8, pad = new Uint8Array(this.fill < 56 ? 64 : 128), i, out = "";
    pad.set(this.buf.subarray(0, this.fill));
    pad[this.fill] = 0x80;
    for (i = 0; i < 8; i++) {   /* 64-bit big-endian length, low 53 bits exact */
      pad[pad.length - 1 - i] = i < 4 ? (bits >>> (i * 8)) & 0xff
                                      : Math.floor(bits / 4294967296) >>> ((i - 4) * 8) & 0xff;
    }
    this.blocks(pad, 0, pad.length >> 6);
    for (i = 0; i < 8; i++) { out += (this.h[i] >>> 0).toString(16).padStart(8, "0"); }
    return out;
  };
  return Sha256;
})();
