/*
 * hash-worker.js - hashes the document off the page's thread, so the page
 * stays responsive for a 1 GiB file.  Small files go to WebCrypto in one
 * call; larger ones (or any, where WebCrypto is missing: a plain-http origin
 * is not a secure context) are read 4 MiB at a time into the incremental
 * Sha256 of sha256.js, with progress messages.  Nothing leaves the browser.
 * In:  {file: File, whole_max: bytes}.
 * Out: {progress: bytes done} ... then {hex, method} or {error}.
 */
"use strict";
importScripts("sha256.js");
var CHUNK = 4 << 20;

function hex(buf) {
  var b = new Uint8Array(buf), s = "", i;
  for (i = 0; i < b.length; i++) { s += b[i].toString(16).padStart(2, "0"); }
  return s;
}

async function run(file, wholeMax) {
  if (self.crypto && crypto.subtle && file.size <= wholeMax) {
    return {hex: hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer())),
            method: "webcrypto"};
  }
  var h = new Sha256(), off = 0;
  while (off < file.size) {
    var end = Math.min(off + CHUNK, file.size);
    h.update(new Uint8Array(await file.slice(off, end).arrayBuffer()));
    off = end;
    postMessage({progress: off});
  }
  return {hex: h.hex(), method: "incremental"};
}

onmessage = function (ev) {
  run(ev.data.file, ev.data.whole_max).then(postMessage, function (e) {
    postMessage({error: String(e && e.message ? e.message : e)});
  });
};
