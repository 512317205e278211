/*
 * verify.js - the verification page (docs/VERIFY-PAGE.md).  The document is
 * hashed in hash-worker.js and never sent; POST /v1/verify gets only
 * {"digest": "sha256:<hex>", "receipt": <receipt text>} and answers with the
 * JSON report, rendered here verdict first.  A signed report goes to POST
 * /v1/verify-report.  GET /v1/trust names the anchors the server uses.
 * English and Chinese; no cookies, no storage, no third-party requests.
 */
"use strict";
(function () {
  var WHOLE_MAX = 1 << 20;  /* WebCrypto in one call up to 1 MiB, incremental above */
  /* Every text in both languages: key: [English, Chinese]. */
  var T = {
    title: ["Verify a time-stamped document", "验证已加盖时间戳的文件"],
    intro: ["Choose the document and its receipt. The document is hashed in this browser and never leaves it: only its SHA-256 digest and the receipt are sent to this server.", "请选择文件及其回执。文件只在本浏览器中计算哈希，不会离开本机：发送给本服务器的只有它的 SHA-256 摘要和回执。"],
    h_doc: ["1. Document and receipt", "1. 文件与回执"],
    doc_label: ["Document (any file; hashed here, not uploaded)", "文件（任意类型；在此计算哈希，不上传）"],
    receipt_label: ["Receipt (.json)", "回执（.json）"],
    drop_hint: ["You can also drop files on these boxes.", "也可以把文件拖放到这些框中。"],
    verify_btn: ["Verify", "验证"],
    digest_label: ["SHA-256 of the document:", "文件的 SHA-256："],
    h_result: ["Result", "验证结果"],
    h_chain: ["Time-stamping authority and its certificate chain", "时间戳机构及其证书链"],
    h_steps: ["Checks", "各项检查"],
    h_limits: ["What this does not establish", "本结果不能证明的事项"],
    dl_json: ["Download the JSON report", "下载 JSON 报告"],
    dl_pdf: ["Download the PDF report", "下载 PDF 报告"],
    h_offline: ["Do not trust this server? Verify offline", "不信任本服务器？请离线验证"],
    offline_text: ["Check the anchors' fingerprints below against the ones the time-stamping authority publishes, then run the standalone verifier on your own computer:", "请先把下列信任锚的指纹与时间戳机构公布的指纹核对，然后在自己的计算机上运行独立验证程序："],
    h_report: ["2. Check a signed verification report", "2. 核验已签名的验证报告"],
    report_intro: ["A report signed with notarium verify --sign-key comes as two files: the report (.json) and its signature (.p7s).", "用 notarium verify --sign-key 签名的报告包含两个文件：报告（.json）及其签名（.p7s）。"],
    report_label: ["Report (.json)", "报告（.json）"],
    sig_label: ["Signature (.p7s)", "签名（.p7s）"],
    report_btn: ["Check the report", "核验报告"],
    h_trust: ["Trust anchors this server verifies against", "本服务器使用的信任锚"],
    trust_text: ["A PASSED result here means: genuine according to these anchors. Compare their fingerprints with the ones published by the authority.", "此处的“通过”表示：依据这些信任锚判定为真实。请将其指纹与机构公布的指纹核对。"],
    dl_root: ["Download tsa-root.pem", "下载 tsa-root.pem"],
    dl_vkey: ["Download log.vkey", "下载 log.vkey"],
    home: ["Notarium", "Notarium"],
    need_files: ["Choose both files first.", "请先选择两个文件。"],
    hashing: ["Hashing the document in this browser…", "正在本浏览器中计算文件哈希…"],
    hashed: ["Hashed {n} bytes ({m}).", "已计算 {n} 字节（{m}）。"],
    sending: ["Asking the server…", "正在请求服务器…"],
    PASSED: ["PASSED", "通过（PASSED）"],
    FAILED: ["FAILED", "未通过（FAILED）"],
    INDETERMINATE: ["INDETERMINATE", "无法确定（INDETERMINATE）"],
    NOT_RUN: ["NOT RUN", "未执行"],
    w_PASSED: ["The document is the one that was time-stamped, the time-stamp is genuine, and it is recorded in the ledger.", "该文件正是加盖时间戳的文件，时间戳真实有效，并已记录在账本中。"],
    w_FAILED: ["The check failed: ", "验证未通过："],
    w_INDETERMINATE: ["The check could not be completed: ", "验证无法完成："],
    gen_utc: ["Time-stamp (UTC)", "时间戳时间（UTC）"],
    gen_local: ["Time-stamp (your time zone, {z})", "时间戳时间（您的时区，{z}）"],
    serial: ["Serial number", "序列号"],
    policy: ["Policy", "策略"],
    tsa: ["TSA", "时间戳机构"],
    ledger: ["Ledger position", "账本位置"],
    ledger_pos: ["leaf {i} of a tree of {n} entries, log {o}", "第 {i} 号条目，树大小 {n}，日志 {o}"],
    verified_at: ["Verified at", "验证时间"],
    report_id: ["Report id", "报告编号"],
    document: ["Document", "文件"],
    receipt: ["Receipt", "回执"],
    s_inputs: ["Inputs", "输入"],
    s_digest: ["Document digest matches the time-stamp", "文件摘要与时间戳一致"],
    s_token: ["Time-stamp token is well formed", "时间戳令牌格式正确"],
    s_signature: ["TSA signature and certificate chain", "时间戳机构签名及证书链"],
    s_revocation: ["Revocation", "吊销状态"],
    s_ledger: ["Recorded in the ledger (inclusion proof, signed checkpoint)", "已记录在账本中（包含证明、已签名检查点）"],
    s_mirror: ["Found in the independent mirror", "在独立镜像中找到"],
    sig_VALID: ["SIGNATURE VALID", "签名有效"],
    sig_INVALID: ["SIGNATURE INVALID", "签名无效"],
    signer: ["Signed by", "签名者"],
    ts: ["Time-stamped", "时间戳"],
    ts_none: ["not time-stamped: the signing time is not proven", "无时间戳：签名时间未得到证明"],
    concluded: ["The report concluded", "报告的结论"],
    reason: ["Reason", "原因"],
    doc_gen: ["Document's time-stamp (UTC)", "文件的时间戳时间（UTC）"],
    tsa_root: ["TSA root certificate", "时间戳机构根证书"],
    log_key: ["Log key (vkey)", "日志公钥（vkey）"],
    report_roots: ["Report signers' roots", "报告签名者根证书"],
    none: ["none configured", "未配置"],
    fp: ["SHA-256 fingerprint", "SHA-256 指纹"],
    HASH_FAILURE: ["the document is not the one that was time-stamped (its digest differs)", "该文件不是加盖时间戳的文件（摘要不同）"],
    FORMAT_FAILURE: ["the receipt or its time-stamp token is malformed", "回执或其时间戳令牌格式错误"],
    SIG_CRYPTO_FAILURE: ["the time-stamp's signature does not verify", "时间戳的签名验证失败"],
    EXPIRED: ["the TSA certificate had expired at the time-stamp's time", "时间戳时间时，时间戳机构证书已过期"],
    NOT_YET_VALID: ["the TSA certificate was not yet valid at the time-stamp's time", "时间戳时间时，时间戳机构证书尚未生效"],
    NO_SIGNING_CERTIFICATE_FOUND: ["the TSA's certificate is missing", "缺少时间戳机构证书"],
    NO_CERTIFICATE_CHAIN_FOUND: ["the TSA certificate does not chain to this server's trust anchor", "时间戳机构证书无法链接到本服务器的信任锚"],
    CHAIN_CONSTRAINTS_FAILURE: ["the TSA certificate is not allowed to issue time-stamps", "时间戳机构证书无权签发时间戳"],
    CERTIFICATE_CHAIN_GENERAL_FAILURE: ["the TSA certificate chain could not be validated", "时间戳机构证书链无法验证"],
    REVOKED: ["the TSA certificate was revoked", "时间戳机构证书已被吊销"],
    REVOKED_NO_POE: ["the TSA certificate was revoked later", "时间戳机构证书后来被吊销"],
    TRY_LATER: ["revocation information is missing", "缺少吊销信息"],
    LEAF_FORMAT_FAILURE: ["the ledger entry is malformed", "账本条目格式错误"],
    LEAF_MISMATCH: ["the ledger entry does not match this time-stamp", "账本条目与该时间戳不符"],
    LOG_MISMATCH: ["the receipt is from another log", "回执来自另一个日志"],
    CHECKPOINT_SIGNATURE_FAILURE: ["the ledger checkpoint's signature does not verify", "账本检查点签名验证失败"],
    CHECKPOINT_FORMAT_FAILURE: ["the ledger checkpoint is malformed", "账本检查点格式错误"],
    CHECKPOINT_MISMATCH: ["the ledger checkpoint does not match the proof", "账本检查点与证明不符"],
    INCLUSION_PROOF_FAILURE: ["the proof that the entry is in the ledger is wrong", "该条目在账本中的包含证明错误"],
    SPLIT_VIEW: ["the log showed different histories", "日志呈现了不同的历史"],
    MIRROR_UNAVAILABLE: ["the mirror was unavailable", "镜像不可用"],
    CHECKPOINT_NOT_IN_MIRROR: ["the checkpoint is not in the mirror", "镜像中没有该检查点"],
    err_http: ["The server answered {s}: {m}", "服务器返回 {s}：{m}"],
    lang_other: ["中文", "English"]
  };
  var lang = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  var files = {doc: null, receipt: null, report: null, sig: null};
  var last = null;   /* {report, body, digest} of the last verification */
  var trust = null;

  function $(id) { return document.getElementById(id); }
  function t(key, args) {
    var s = T[key] !== undefined ? T[key][lang === "zh" ? 1 : 0] : key;
    Object.keys(args || {}).forEach(function (k) { s = s.split("{" + k + "}").join(args[k]); });
    return s;
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function clear(e) { while (e.firstChild) { e.removeChild(e.firstChild); } return e; }
  function fact(dl, key, value, mono) {
    dl.appendChild(el("dt", key));
    var dd = el("dd");
    dd.appendChild(mono ? el("code", value) : document.createTextNode(value));
    dl.appendChild(dd);
  }
  function showError(msg) { var e = $("error"); e.textContent = msg; e.hidden = !msg; }
  function save(name, type, data) {
    var a = el("a"), url = URL.createObjectURL(new Blob([data], {type: type}));
    a.href = url; a.download = name; document.body.appendChild(a); a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
  }
  /* Shell-quote for the offline command (same rule as the verifier's). */
  function q(s) { return /^[A-Za-z0-9_.\/:=+@,-]+$/.test(s) ? s : "'" + s.split("'").join("'\\''") + "'"; }

  /* POST JSON; the reply as "json", "text" or "blob". */
  async function post(url, body, as) {
    var r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify(body), credentials: "omit", cache: "no-store"});
    if (!r.ok) {
      var m = r.statusText;
      try { m = (await r.json()).message || m; } catch (e) { /* not JSON */ }
      throw new Error(t("err_http", {s: r.status, m: m}));
    }
    return as === "blob" ? r.blob() : as === "text" ? r.text() : r.json();
  }

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach(function (e) {
      e.textContent = t(e.getAttribute("data-i18n"));
    });
    $("lang-btn").textContent = t("lang_other");
    $("lang-btn").lang = lang === "zh" ? "en" : "zh";
    document.title = "Notarium — " + t("title");
    if (trust) { renderTrust(); }
    if (last) { renderReport(last.report); }
  }

  function hashFile(file) {
    return new Promise(function (resolve, reject) {
      var w = new Worker("/web/hash-worker.js"), prog = $("hash-progress");
      prog.hidden = false; prog.max = Math.max(file.size, 1); prog.value = 0;
      $("hash-text").textContent = t("hashing");
      w.onmessage = function (ev) {
        if (ev.data.progress !== undefined) { prog.value = ev.data.progress; return; }
        w.terminate();
        prog.value = prog.max;
        if (ev.data.error) { reject(new Error(ev.data.error)); } else { resolve(ev.data); }
      };
      w.onerror = function (e) { w.terminate(); reject(new Error(e.message)); };
      w.postMessage({file: file, whole_max: WHOLE_MAX});
    });
  }

  async function verify() {
    showError("");
    if (!files.doc || !files.receipt) { showError(t("need_files")); return; }
    $("verify-btn").disabled = true;
    try {
      var h = await hashFile(files.doc);
      $("hash-text").textContent = t("hashed", {n: files.doc.size, m: h.method});
      $("digest").textContent = h.hex;
      $("digest-line").hidden = false;
      var body = {digest: "sha256:" + h.hex, receipt: await files.receipt.text()};
      var text = await post("/v1/verify", body, "text"), report = JSON.parse(text);
      last = {report: report, text: text, body: body, doc: files.doc.name, receipt: files.receipt.name};
      renderReport(report);
      $("result").hidden = false;
      $("verdict").focus();
    } catch (e) {
      showError(e.message);
    } finally {
      $("verify-btn").disabled = false;
    }
  }

  function renderReport(r) {
    var v = $("verdict"), ind = r.indication, ts = r.timestamp, lg = r.ledger, f = clear($("facts"));
    v.textContent = t(ind) + (r.subindication ? " — " + r.subindication : "");
    v.className = ind; v.tabIndex = -1; v.setAttribute("data-indication", ind);
    $("verdict-words").textContent = ind === "PASSED" ? t("w_PASSED")
                                   : t("w_" + ind) + t(r.subindication || "") + ".";
    if (ts) {
      var d = new Date(ts.gen_time);
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
      fact(f, t("gen_utc"), ts.gen_time, true);
      fact(f, t("gen_local", {z: zone}),
           d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", {dateStyle: "long", timeStyle: "long"}));
      fact(f, t("serial"), ts.serial, true);
      fact(f, t("policy"), ts.policy, true);
    }
    if (lg) {
      fact(f, t("ledger"), t("ledger_pos", {i: lg.leaf_index, n: lg.tree_size, o: lg.origin}));
    }
    fact(f, t("document"), last.doc + " — sha256:" + r.evidence.digest, true);
    fact(f, t("verified_at"), r.verification_time, true);
    fact(f, t("report_id"), r.report_id, true);
    var chain = clear($("chain"));
    ((ts && ts.chain) || []).forEach(function (c) {
      var li = el("li", c.subject);
      li.appendChild(el("br"));
      li.appendChild(el("code", t("fp") + ": " + c.sha256));
      chain.appendChild(li);
    });
    var steps = clear($("steps"));
    r.steps.forEach(function (s) {
      var li = el("li");
      li.appendChild(el("span", t(s.result), "st " + s.result));
      li.appendChild(document.createTextNode(" " + t("s_" + s.name) +
                                             (s.subindication ? " (" + s.subindication + ")" : "")));
      var ul = el("ul", null, "details");
      s.details.forEach(function (d) { ul.appendChild(el("li", d)); });
      li.appendChild(ul);
      steps.appendChild(li);
    });
    var limits = clear($("limits"));
    r.not_established.forEach(function (n) { limits.appendChild(el("li", n)); });
    $("offline-cmd").textContent =
      "notarium-verify --document " + q(last.doc) + " --receipt " + q(last.receipt) +
      " --trust tsa-root.pem --log-key log.vkey --report-json report.json --lang " + lang;
  }

  function renderTrust() {
    var dl = clear($("trust"));
    trust.tsa_roots.forEach(function (c) {
      fact(dl, t("tsa_root"), c.subject);
      fact(dl, t("fp"), c.sha256, true);
    });
    fact(dl, t("log_key"), trust.log_key.vkey, true);
    if (trust.report_roots.length === 0) { fact(dl, t("report_roots"), t("none")); }
    trust.report_roots.forEach(function (c) {
      fact(dl, t("report_roots"), c.subject);
      fact(dl, t("fp"), c.sha256, true);
    });
    $("dl-pdf").hidden = !trust.pdf;
  }

  async function checkReport() {
    showError("");
    if (!files.report || !files.sig) { showError(t("need_files")); return; }
    $("report-btn").disabled = true;
    try {
      var sig = new Uint8Array(await files.sig.arrayBuffer()), bin = "";
      for (var i = 0; i < sig.length; i++) { bin += String.fromCharCode(sig[i]); }
      var r = await post("/v1/verify-report", {report: await files.report.text(), signature: btoa(bin)});
      var v = $("report-verdict"), f = clear($("report-facts")), key = r.valid ? "VALID" : "INVALID";
      v.textContent = t("sig_" + key); v.className = key; v.setAttribute("data-valid", key);
      if (!r.valid) { fact(f, t("reason"), r.reason); }
      if (r.signer) { fact(f, t("signer"), r.signer); }
      if (r.valid) {
        fact(f, t("ts"), r.timestamp ? r.timestamp.gen_time + " — " + r.timestamp.tsa : t("ts_none"));
      }
      if (r.report) {
        fact(f, t("concluded"), t(r.report.indication) +
             (r.report.subindication ? " — " + t(r.report.subindication) : ""));
        fact(f, t("document"), r.report.digest_algorithm + ":" + r.report.digest, true);
        if (r.report.gen_time) { fact(f, t("doc_gen"), r.report.gen_time, true); }
        fact(f, t("report_id"), r.report.report_id, true);
      }
      $("report-result").hidden = false;
    } catch (e) {
      showError(e.message);
    } finally {
      $("report-btn").disabled = false;
    }
  }

  function pick(key, inputId, dropId) {
    var input = $(inputId), drop = $(dropId);
    input.addEventListener("change", function () { files[key] = input.files[0] || null; });
    drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer.files.length > 0) {
        files[key] = e.dataTransfer.files[0];
        try { input.files = e.dataTransfer.files; } catch (err) { /* read-only in old browsers */ }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    pick("doc", "doc-file", "drop-doc");
    pick("receipt", "receipt-file", "drop-receipt");
    pick("report", "report-file", "drop-report");
    pick("sig", "sig-file", "drop-sig");
    $("verify-btn").addEventListener("click", verify);
    $("report-btn").addEventListener("click", checkReport);
    $("lang-btn").addEventListener("click", function () { lang = lang === "zh" ? "en" : "zh"; applyLang(); });
    $("dl-json").addEventListener("click", function () {
      save("report.json", "application/json", last.text);
    });
    $("dl-pdf").addEventListener("click", function () {
      post("/v1/verify?format=pdf&lang=" + lang, last.body, "blob").then(function (b) {
        save("report-" + lang + ".pdf", "application/pdf", b);
      }, function (e) { showError(e.message); });
    });
    $("dl-root").addEventListener("click", function () {
      save("tsa-root.pem", "application/x-pem-file", trust.tsa_roots.map(function (c) { return c.pem; }).join(""));
    });
    $("dl-vkey").addEventListener("click", function () {
      save("log.vkey", "text/plain", trust.log_key.vkey + "\n");
    });
    fetch("/v1/trust", {credentials: "omit"}).then(function (r) { return r.json(); }).then(function (j) {
      trust = j; renderTrust();
    }, function (e) { showError(e.message); });
    applyLang();
  });
})();
