/*
 * verify_ledger.c - step 6 of docs/REPORT.md: the receipt's leaf decoded and
 * matched with the token, the checkpoint's signature checked with the pinned
 * log key, and the inclusion proof followed to the checkpoint's root; then
 * the mirror step (mirror.c) when --mirror is given.  Part of nt_verifier,
 * run by verify.c after the revocation step.
 */
#include "verifier/verifier_int.h"

#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/receipt.h"
#include "ledger/record.h"

#include <string.h>

#include <openssl/sha.h>
#include <openssl/ts.h>

/* ------------------------------------------------------------------ ledger */

static int ledger_fail(verifier_report *r, const char *sub, const char *code, const char *en,
                       const char *zh)
{
    verifier__step_set(r, VERIFIER_STEP_LEDGER, VERIFIER_STEP_FAILED, sub);
    return verifier__detail_text(r, VERIFIER_STEP_LEDGER, code, en, zh);
}

/* Did a check of this step fail (the helpers below stop at the first failure)? */
static int ledger_failed(const verifier_report *r)
{
    return r->steps[VERIFIER_STEP_LEDGER].status == VERIFIER_STEP_FAILED;
}

/* The receipt's leaf: a canonical record committing to this token, digest and metadata. */
static int check_leaf(vctx *v)
{
    int error = 0;
    verifier_report *r = v->r;
    record rec;

    if (record_decode(&rec, v->rc.leaf.ptr, v->rc.leaf.len) < 0) {
        verifier__step_set(r, VERIFIER_STEP_LEDGER, VERIFIER_STEP_FAILED, "LEAF_FORMAT_FAILURE");
        error = verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.leaf_format",
                                 "the leaf is not a canonical Notarium record: %s",
                                 "叶子不是规范的 Notarium 记录：%s", nt_error_last());
        goto done;
    }
    if (rec.token.len != v->rc.token.len ||
        memcmp(rec.token.ptr, v->rc.token.ptr, rec.token.len) != 0) {
        error = ledger_fail(r, "LEAF_MISMATCH", "ledger.leaf_token_mismatch",
                            "the leaf does not commit to this token", "叶子未承诺该令牌");
        goto done;
    }
    if (v->tst != NULL && (rec.alg != v->imprint_alg || rec.digest.len != v->imprint.len ||
                           memcmp(rec.digest.ptr, v->imprint.ptr, v->imprint.len) != 0)) {
        error = ledger_fail(r, "LEAF_MISMATCH", "ledger.leaf_digest_mismatch",
                            "the leaf's digest differs from the token's messageImprint",
                            "叶子中的摘要与时间戳令牌的 messageImprint 不同");
        goto done;
    }
    /* A receipt may withhold the metadata (HTTP-API.md), or say the log lost it (a restore
     * from the mirror): the leaf still commits to its hash, and everything else holds. */
    if (rec.has_metadata !=
        (v->rc.has_metadata || v->rc.metadata_withheld || v->rc.metadata_missing)) {
        error = ledger_fail(r, "LEAF_MISMATCH", "ledger.metadata_flag_mismatch",
                            "the receipt's metadata and the leaf's metadata flag disagree",
                            "回执中的元数据与叶子的元数据标志不一致");
        goto done;
    }
    if (v->rc.has_metadata) {
        uint8_t mh[32];
        SHA256(v->rc.metadata.ptr != NULL ? v->rc.metadata.ptr : (const uint8_t *)"",
               v->rc.metadata.len, mh);
        if (memcmp(mh, rec.metadata_hash, 32) != 0) {
            error = ledger_fail(r, "LEAF_MISMATCH", "ledger.metadata_mismatch",
                                "the receipt's metadata does not hash to the leaf's metadata hash",
                                "回执中元数据的哈希与叶子记录的元数据哈希不符");
            goto done;
        }
    }
    if (v->rc.metadata_withheld) {
        NT_TRY(verifier__detail(
            r, VERIFIER_STEP_LEDGER, "ledger.leaf_ok_metadata_withheld",
            "leaf %llu commits to this token and to %s:%s; its metadata is "
            "withheld from this receipt and was not checked",
            "叶子 %llu 承诺了该令牌及摘要 %s:%s；其元数据未包含在本回执中，未予核对",
            (unsigned long long)v->rc.leaf_index, record_alg_name(rec.alg),
            nt_buf_cstr(&r->imprint)));
        NT_TRY(
            verifier__limit(r, "the receipt withholds the evidence metadata: it was not checked"));
    } else if (v->rc.metadata_missing) {
        NT_TRY(verifier__detail(
            r, VERIFIER_STEP_LEDGER, "ledger.leaf_ok_metadata_missing",
            "leaf %llu commits to this token and to %s:%s; its metadata was "
            "lost by the log (restored from its mirror) and is not checked",
            "叶子 %llu 承诺了该令牌及摘要 %s:%s；其元数据已在日志恢复时丢失，未予核对",
            (unsigned long long)v->rc.leaf_index, record_alg_name(rec.alg),
            nt_buf_cstr(&r->imprint)));
        NT_TRY(verifier__limit(r, "the log lost the evidence metadata (restored from its mirror): "
                                  "it was not checked"));
    } else if (rec.has_metadata) {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.leaf_ok_metadata",
                                "leaf %llu commits to this token and to %s:%s and its metadata",
                                "叶子 %llu 承诺了该令牌、摘要 %s:%s 及其元数据",
                                (unsigned long long)v->rc.leaf_index, record_alg_name(rec.alg),
                                nt_buf_cstr(&r->imprint)));
    } else {
        NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.leaf_ok",
                                "leaf %llu commits to this token and to %s:%s",
                                "叶子 %llu 承诺了该令牌及摘要 %s:%s",
                                (unsigned long long)v->rc.leaf_index, record_alg_name(rec.alg),
                                nt_buf_cstr(&r->imprint)));
    }
done:
    return error;
}

/* The checkpoint: from the pinned log, signed by its key, for the proof's tree size. */
static int check_checkpoint(vctx *v, const note_verifier *nv, checkpoint *cp)
{
    int error = 0;
    verifier_report *r = v->r;
    size_t body_len = 0;

    if (strcmp(nt_buf_cstr(&v->rc.origin), nv->name) != 0) {
        verifier__step_set(r, VERIFIER_STEP_LEDGER, VERIFIER_STEP_FAILED, "LOG_MISMATCH");
        error = verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.log_mismatch",
                                 "the receipt is from log \"%s\", the pinned log key is \"%s\"",
                                 "该回执来自日志“%s”，而指定的日志公钥属于“%s”",
                                 nt_buf_cstr(&v->rc.origin), nv->name);
        goto done;
    }
    int vr = note_verify(&body_len, (const char *)v->rc.checkpoint.ptr, v->rc.checkpoint.len, nv);
    if (vr == NT_EVERIFY) {
        error = ledger_fail(r, "CHECKPOINT_SIGNATURE_FAILURE", "ledger.checkpoint_signature",
                            "the checkpoint carries no valid signature by the pinned log key",
                            "检查点没有指定日志公钥的有效签名");
        goto done;
    }
    if (vr < 0 || checkpoint_parse(cp, (const char *)v->rc.checkpoint.ptr, body_len) < 0) {
        error = ledger_fail(r, "CHECKPOINT_FORMAT_FAILURE", "ledger.checkpoint_format",
                            "the checkpoint is not a well-formed signed note",
                            "检查点不是格式正确的签名注记（signed note）");
        goto done;
    }
    NT_TRY(nt_hex_encode(&r->root, cp->root, sizeof(cp->root)));
    if (strcmp(cp->origin, nv->name) != 0) {
        error = ledger_fail(r, "LOG_MISMATCH", "ledger.checkpoint_origin",
                            "the checkpoint's origin is not the pinned log's name",
                            "检查点的 origin 不是指定日志的名称");
        goto done;
    }
    NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.checkpoint_ok",
                            "checkpoint signed by the pinned log key %s+%08x: size %llu",
                            "检查点由指定的日志公钥 %s+%08x 签名：树大小 %llu", nv->name,
                            (unsigned)nv->key_id, (unsigned long long)cp->size));
    if (cp->size != v->rc.tree_size) {
        error = ledger_fail(r, "CHECKPOINT_MISMATCH", "ledger.tree_size_mismatch",
                            "the inclusion proof is for another tree size than the checkpoint's",
                            "包含证明针对的树大小与检查点的不同");
        goto done;
    }
done:
    return error;
}

int verifier__step_ledger(vctx *v, const note_verifier *nv)
{
    int error = 0;
    verifier_report *r = v->r;
    checkpoint cp = {0};
    uint8_t leaf_hash[MERKLE_HASH_SIZE];

    r->have_ledger = 1;
    r->leaf_index = v->rc.leaf_index;
    r->tree_size = v->rc.tree_size;
    NT_TRY(nt_buf_puts(&r->origin, nt_buf_cstr(&v->rc.origin)));
    NT_TRY(nt_buf_set(&r->checkpoint, v->rc.checkpoint.ptr, v->rc.checkpoint.len));
    merkle_leaf_hash(leaf_hash, v->rc.leaf.ptr, v->rc.leaf.len);
    NT_TRY(nt_hex_encode(&r->leaf_hash, leaf_hash, sizeof(leaf_hash)));

    NT_TRY(check_leaf(v));
    if (ledger_failed(r)) {
        goto done;
    }
    NT_TRY(check_checkpoint(v, nv, &cp));
    if (ledger_failed(r)) {
        goto done;
    }
    int ir = merkle_verify_inclusion(leaf_hash, v->rc.leaf_index, v->rc.tree_size, v->rc.proof.ptr,
                                     v->rc.proof.len, cp.root);
    if (ir < 0) {
        error = ledger_fail(r, "INCLUSION_PROOF_FAILURE", "ledger.inclusion_failure",
                            "the inclusion proof does not lead from this leaf at this index to "
                            "the checkpoint's root",
                            "包含证明无法从该序号处的该叶子推导出检查点的根哈希");
        goto done;
    }
    NT_TRY(verifier__detail(r, VERIFIER_STEP_LEDGER, "ledger.inclusion_ok",
                            "inclusion proof (%zu hashes) leads to the checkpoint's root %s",
                            "包含证明（%zu 个哈希）通向检查点的根哈希 %s", v->rc.proof.len / 32,
                            nt_buf_cstr(&r->root)));
    verifier__step_set(r, VERIFIER_STEP_LEDGER, VERIFIER_STEP_PASSED, NULL);

    if (v->opts->mirror != NULL) {
        NT_TRY(verifier__mirror_check(r, v->opts, nv, cp.size, cp.root));
    }
done:
    return error;
}
