#!/usr/bin/python3
"""verify_page.py - drives Debian's headless chromium (python3-selenium +
chromium-driver) through the verification page of a running notarium, for
tests/e2e/verify_page.sh, which prepares the files and checks the server's
request log afterwards.  Each state is saved as a PNG in OUT_DIR.

usage: verify_page.py URL OUT_DIR   (file paths and expected values in the
environment, see verify_page.sh).  Exit status 0 when every assertion holds;
any failure raises (non-zero exit, message on stderr).  Prints the page's
weight and load time as `page: ...` lines.
"""
import json
import os
import shutil
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL, OUT = sys.argv[1], sys.argv[2]
E = os.environ
WAIT = 60  # seconds, an upper bound for one state on a loaded machine


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def browser(lang, downloads):
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-extensions", "--window-size=1000,1400",
              "--user-data-dir=" + tempfile.mkdtemp(dir=OUT, prefix="profile-"),
              "--lang=" + lang):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {
        "intl.accept_languages": lang,
        "download.default_directory": downloads,
        "download.prompt_for_download": False,
    })
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=opts)


def shot(d, name):
    d.save_screenshot(os.path.join(OUT, name + ".png"))


def wait_attr(d, elem_id, attr):
    WebDriverWait(d, WAIT, poll_frequency=0.05).until(
        lambda x: x.find_element(By.ID, elem_id).get_attribute(attr))
    return d.find_element(By.ID, elem_id).get_attribute(attr)


def text(d, elem_id):
    return d.find_element(By.ID, elem_id).text


def no_console_errors(d, what):
    errs = [m["message"] for m in d.get_log("browser") if m["level"] == "SEVERE"]
    check(not errs, "%s: browser console errors (CSP?): %s" % (what, errs))


def verify(d, doc, receipt, shot_name):
    """Reload, choose the files, press Verify; return (indication, digest shown)."""
    d.get(URL + "/verify")
    d.find_element(By.ID, "doc-file").send_keys(doc)
    d.find_element(By.ID, "receipt-file").send_keys(receipt)
    t0 = time.monotonic()
    d.find_element(By.ID, "verify-btn").click()
    ind = wait_attr(d, "verdict", "data-indication")
    print("%s: click to verdict %.0f ms (%d bytes)"
          % (shot_name, (time.monotonic() - t0) * 1000, os.path.getsize(doc)))
    shot(d, shot_name)
    return ind, text(d, "digest")


def main():
    downloads = tempfile.mkdtemp(dir=OUT, prefix="downloads-")
    d = browser("en-US", downloads)
    try:
        # 1. The page and its weight, navigation timing from the browser (the first
        #    load starts the renderer: the second is the page's own figure).
        for attempt in ("cold", "warm"):
            d.get(URL + "/verify")
            WebDriverWait(d, WAIT).until(lambda x: x.find_element(By.ID, "trust").text)
            nav = d.execute_script(
                "var n = performance.getEntriesByType('navigation')[0];"
                "var r = performance.getEntriesByType('resource');"
                "return {load: n.loadEventEnd - n.startTime, dom: n.domContentLoadedEventEnd - n.startTime,"
                " bytes: n.decodedBodySize + r.reduce(function (a, e) { return a + e.decodedBodySize; }, 0),"
                " names: r.map(function (e) { return e.name.replace(/^.*\//, ''); })};")
            print("page (%s): load %.1f ms, DOMContentLoaded %.1f ms, %d bytes (verify + %s)"
                  % (attempt, nav["load"], nav["dom"], nav["bytes"], ", ".join(nav["names"])))
        names = d.execute_script("return performance.getEntriesByType('resource')"
                                 ".map(function (e) { return e.name; });")
        for n in names:
            check(n.startswith(URL), "a request left the server: " + n)
        check(nav["load"] < 1000, "the page took %.0f ms to load" % nav["load"])
        check(text(d, "h-doc") == "1. Document and receipt", "English page by default")
        check(E["NT_CA_SHA256"] in text(d, "trust"), "the trust anchor fingerprint is not shown")
        check(E["NT_VKEY"] in text(d, "trust"), "the log key is not shown")
        shot(d, "01-empty")

        # 2. Our incremental SHA-256 against WebCrypto, in the page (lengths around
        #    the 55/56/64-byte padding edges, and one input fed in odd pieces).
        res = d.execute_async_script("""
            var done = arguments[arguments.length - 1], s = document.createElement('script');
            s.src = '/web/sha256.js';
            s.onload = async function () {
              var bad = [], lens = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100003];
              for (var n of lens) {
                var b = new Uint8Array(n);
                for (var i = 0; i < n; i++) { b[i] = (i * 131 + n) & 255; }
                var w = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b)))
                  .map(function (x) { return x.toString(16).padStart(2, '0'); }).join('');
                var h = new Sha256();
                for (var o = 0, step = 1; o < n; o += step, step = step * 3 % 97 + 1) {
                  h.update(b.subarray(o, Math.min(n, o + step)));
                }
                if (h.hex() !== w) { bad.push(n); }
              }
              var big = new Uint8Array(32 << 20), t0 = performance.now();
              new Sha256().update(big).hex();
              done({bad: bad, abc: new Sha256().update(new TextEncoder().encode('abc')).hex(),
                    mbps: 32 / ((performance.now() - t0) / 1000)});
            };
            document.head.appendChild(s);""")
        print("sha256.js: %.0f MiB/s (32 MiB, one update, page thread)" % res["mbps"])
        check(res["bad"] == [], "sha256.js differs from WebCrypto for lengths %s" % res["bad"])
        check(res["abc"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
              "sha256.js of 'abc' (FIPS 180-2 B.1)")

        # 3. The genuine document (3 MB: the incremental path) and its receipt: PASSED.
        ind, digest = verify(d, E["NT_DOC"], E["NT_RECEIPT"], "02-passed")
        check(ind == "PASSED", "genuine document: %s: %s" % (ind, text(d, "verdict-words")))
        check(digest == E["NT_DOC_SHA256"], "digest shown %s, sha256sum %s"
              % (digest, E["NT_DOC_SHA256"]))
        check("incremental" in text(d, "hash-text"), "the 3 MB document was not hashed incrementally")
        check(E["NT_DOC_SHA256"] in text(d, "facts"), "the report's digest is not the document's")
        check("UTC" in text(d, "facts") and "Ledger position" in text(d, "facts"), "facts missing")
        check("Notarium Demo TSA" in text(d, "chain"), "the TSA chain is not shown")
        check("notarium-verify --document" in text(d, "offline-cmd"), "no offline command")
        no_console_errors(d, "genuine document")

        # PDF and JSON downloads.
        d.find_element(By.ID, "dl-json").click()
        d.find_element(By.ID, "dl-pdf").click()
        pdf = os.path.join(downloads, "report-en.pdf")
        js = os.path.join(downloads, "report.json")
        WebDriverWait(d, WAIT, poll_frequency=0.1).until(
            lambda x: os.path.exists(pdf) and os.path.exists(js))
        with open(pdf, "rb") as f:
            check(f.read(5) == b"%PDF-", "the PDF download is not a PDF")
        with open(js) as f:
            check(json.load(f)["indication"] == "PASSED", "the JSON download")

        # 4. Chinese: the switch, with the result re-rendered.
        d.find_element(By.ID, "lang-btn").click()
        check(text(d, "h-result") == "验证结果", "Chinese result heading: " + text(d, "h-result"))
        check(text(d, "verdict").startswith("通过"), "Chinese verdict: " + text(d, "verdict"))
        check("时间戳时间" in text(d, "facts"), "Chinese facts")
        shot(d, "03-passed-zh")

        # 5. A changed document: FAILED, HASH_FAILURE.
        ind, digest = verify(d, E["NT_DOC_CHANGED"], E["NT_RECEIPT"], "04-changed")
        check(ind == "FAILED" and "HASH_FAILURE" in text(d, "verdict"),
              "changed document: " + text(d, "verdict"))
        check(digest == E["NT_DOC_CHANGED_SHA256"], "changed document digest")

        # 6. A forged inclusion proof: FAILED.
        ind, _ = verify(d, E["NT_DOC"], E["NT_RECEIPT_FORGED"], "05-forged-proof")
        check(ind == "FAILED" and "INCLUSION_PROOF_FAILURE" in text(d, "verdict"),
              "forged proof: " + text(d, "verdict"))

        # 7. A small document (WebCrypto path) with its own receipt: PASSED.
        ind, digest = verify(d, E["NT_SMALL"], E["NT_SMALL_RECEIPT"], "06-small")
        check(ind == "PASSED" and "webcrypto" in text(d, "hash-text"), "small document: " + ind)

        # 8. A signed, time-stamped report: VALID; then the same signature on an altered report.
        def report(path, sig, name):
            d.get(URL + "/verify")
            d.find_element(By.ID, "report-file").send_keys(path)
            d.find_element(By.ID, "sig-file").send_keys(sig)
            d.find_element(By.ID, "report-btn").click()
            v = wait_attr(d, "report-verdict", "data-valid")
            shot(d, name)
            return v
        v = report(E["NT_REPORT"], E["NT_REPORT_SIG"], "07-report-valid")
        facts = text(d, "report-facts")
        check(v == "VALID", "signed report: %s: %s" % (v, facts))
        check("Notarium Demo TSA" in facts and "PASSED" in facts, "signed report facts: " + facts)
        v = report(E["NT_REPORT_FORGED"], E["NT_REPORT_SIG"], "08-report-altered")
        check(v == "INVALID", "altered report: " + v)
        no_console_errors(d, "reports")
    finally:
        d.quit()

    # 9. A browser that prefers Chinese gets the Chinese page by default.
    d = browser("zh-CN", downloads)
    try:
        d.get(URL + "/verify")
        WebDriverWait(d, WAIT).until(lambda x: x.find_element(By.ID, "trust").text)
        check(text(d, "h-doc") == "1. 文件与回执", "zh default: " + text(d, "h-doc"))
        check(d.find_element(By.ID, "verify-btn").text == "验证", "zh button")
        shot(d, "09-zh-default")
        ind, _ = verify(d, E["NT_DOC"], E["NT_RECEIPT"], "10-passed-zh")
        check(ind == "PASSED" and text(d, "verdict").startswith("通过"), "zh verdict")
    finally:
        d.quit()
    print("verify_page.py: ok")


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print("browser part: %.1f s" % (time.monotonic() - t0))
