/*
 * cmd_ledger.c - `notarium ledger ...`: read a data directory's ledger
 * (info, a leaf's receipt, proofs), read-only so that it works while the
 * server runs on the same directory, and check a consistency proof between two
 * signed checkpoints offline (check-consistency needs no ledger at all, only
 * the log's vkey, so an auditor or a test can use it on what the HTTP API
 * returned).
 */
#include "certs/certs.h"
#include "ledger/ledger.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "tools/cmd_int.h"
#include "tsa/server.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_ledger(int argc, char **argv);
int cmd_ledger_check(int argc, char **argv); /* cmd_ledger_check.c */
int cmd_ledger_restore(int argc, char **argv);

/* 1 if the token names `cert` in its ESSCertIDv2 (the SHA-256 of its DER, verbatim). */
static int token_names(nt_bytes token, X509 *cert)
{
    uint8_t h[32];
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der), found = 0;

    if (len > 0 && EVP_Digest(der, (size_t)len, h, NULL, EVP_sha256(), NULL) == 1) {
        for (size_t i = 0; !found && token.len >= 32 && i <= token.len - 32; i++) {
            found = memcmp(token.ptr + i, h, 32) == 0;
        }
    }
    OPENSSL_free(der);
    return found;
}

/* The configured identity that signed `token` (tsa.identities), else the default one. */
static int receipt_signer_load(certs_signer **out, const server_config *cfg, nt_bytes token)
{
    for (size_t i = 0; cfg->identity_count > 1 && i < cfg->identity_count; i++) {
        certs_signer *sg = NULL;
        if (server_identity_signer_load(&sg, cfg, &cfg->identities[i]) == 0 &&
            token_names(token, sg->cert)) {
            *out = sg;
            return 0;
        }
        certs_signer_free(sg);
    }
    return server_config_signer_load(out, cfg);
}

static void ledger_usage(void)
{
    fprintf(stderr,
            "usage: notarium ledger info --data DIR [--config FILE]\n"
            "       notarium ledger get INDEX --data DIR [--config FILE]\n"
            "       notarium ledger proof inclusion INDEX SIZE --data DIR [--config FILE]\n"
            "       notarium ledger proof consistency FROM TO --data DIR [--config FILE]\n"
            "       notarium ledger check --data DIR [--config FILE] [--log-key VKEY] "
            "[--all-checkpoints] [--max-problems N]\n"
            "       notarium ledger check-consistency --log-key VKEY OLD_CHECKPOINT NEW_CHECKPOINT "
            "PROOF.json\n"
            "       notarium ledger restore --from GIT_URL_OR_PATH --data DIR [--config FILE] "
            "[--log-key VKEY]\n");
}

/* Positional arguments and --data / --config / --log-key, in any order. */
typedef struct ledger_args {
    const char *data, *config, *log_key;
    const char *pos[6];
    int npos;
} ledger_args;

static int parse_args(ledger_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--data") == 0 && v != NULL) {
            a->data = v;
            i++;
        } else if (strcmp(argv[i], "--config") == 0 && v != NULL) {
            a->config = v;
            i++;
        } else if (strcmp(argv[i], "--log-key") == 0 && v != NULL) {
            a->log_key = v;
            i++;
        } else if (argv[i][0] == '-' || a->npos == (int)NT_ARRAY_LEN(a->pos)) {
            return NT_EINVAL;
        } else {
            a->pos[a->npos++] = argv[i];
        }
    }
    return 0;
}

/*
 * Read-only: the server keeps the ledger open (its sequencer holds
 * sequencer.lock) and the CLI must still work beside it, so the CLI never
 * appends, never takes the lock and needs no signing key.
 */
static int open_ledger(ledger **out, server_config **cfg, const ledger_args *a)
{
    return cmd_open_ledger(out, cfg, a->data, a->config); /* tools/cmd_common.c */
}

static int parse_u64_arg(uint64_t *out, const char *s, const char *what)
{
    if (s == NULL || nt_parse_u64(out, s, strlen(s)) < 0) {
        fprintf(stderr, "notarium ledger: %s must be a decimal integer\n", what);
        return NT_EINVAL;
    }
    return 0;
}

static int cmd_read(const ledger_args *a, const char *sub)
{
    ledger *l = NULL;
    server_config *cfg = NULL;
    certs_signer *signer = NULL;
    nt_buf out = NT_BUF_INIT, text = NT_BUF_INIT;
    receipt rc;
    int status = 1;

    receipt_init(&rc);
    if (open_ledger(&l, &cfg, a) < 0) {
        fprintf(stderr, "notarium ledger: %s\n", nt_error_last());
        goto done;
    }
    if (strcmp(sub, "info") == 0) {
        ledger_info info;
        if (ledger_info_get(&info, l) < 0 || ledger_checkpoint_latest(&out, l) < 0) {
            fprintf(stderr, "notarium ledger: %s\n", nt_error_last());
            goto done;
        }
        {
            nt_buf root = NT_BUF_INIT;
            nt_hex_encode(&root, info.root, 32);
            printf("origin: %s\nsize: %llu\nroot: %s\nmap: %zu of %zu bytes used\n"
                   "gentime high-water: %llu.%09llu\ncheckpoint:\n%s",
                   ledger_origin(l), (unsigned long long)info.size, nt_buf_cstr(&root),
                   info.map_used, info.map_size,
                   (unsigned long long)(info.gen_time_hw_ns / 1000000000u),
                   (unsigned long long)(info.gen_time_hw_ns % 1000000000u), nt_buf_cstr(&out));
            nt_buf_dispose(&root);
        }
    } else if (strcmp(sub, "get") == 0) {
        uint64_t index;
        if (a->npos != 2 || parse_u64_arg(&index, a->pos[1], "INDEX") < 0) {
            ledger_usage();
            status = 2;
            goto done;
        }
        if (ledger_receipt_fill(&rc, l, index) < 0) {
            fprintf(stderr, "notarium ledger: leaf %llu: %s\n", (unsigned long long)index,
                    nt_error_last());
            goto done;
        }
        /* The receipt's certificates, as the server lists them (certs_signer_receipt_ders);
         * a configuration whose certificates cannot be loaded is an error, not a receipt
         * without them. */
        if (receipt_signer_load(&signer, cfg, nt_buf_bytes(&rc.token)) < 0 ||
            certs_signer_receipt_ders(rc.certs, &rc.cert_count, RECEIPT_MAX_CERTS, signer) < 0) {
            fprintf(stderr, "notarium ledger: the receipt's certificates: %s\n", nt_error_last());
            goto done;
        }
        if (receipt_encode(&out, &rc) < 0) {
            fprintf(stderr, "notarium ledger: %s\n", nt_error_last());
            goto done;
        }
        fputs(nt_buf_cstr(&out), stdout);
    } else {
        uint64_t x, y;
        int inclusion;
        if (a->npos != 4 ||
            (strcmp(a->pos[1], "inclusion") != 0 && strcmp(a->pos[1], "consistency") != 0)) {
            ledger_usage();
            status = 2;
            goto done;
        }
        inclusion = strcmp(a->pos[1], "inclusion") == 0;
        if (parse_u64_arg(&x, a->pos[2], inclusion ? "INDEX" : "FROM") < 0 ||
            parse_u64_arg(&y, a->pos[3], inclusion ? "SIZE" : "TO") < 0) {
            status = 2;
            goto done;
        }
        if ((inclusion ? ledger_proof_inclusion(&out, l, x, y)
                       : ledger_proof_consistency(&out, l, x, y)) < 0) {
            fprintf(stderr, "notarium ledger: %s\n", nt_error_last());
            goto done;
        }
        if (receipt_proof_encode(&text,
                                 inclusion ? RECEIPT_PROOF_INCLUSION : RECEIPT_PROOF_CONSISTENCY, x,
                                 y, nt_buf_bytes(&out)) < 0) {
            fprintf(stderr, "notarium ledger: %s\n", nt_error_last());
            goto done;
        }
        fputs(nt_buf_cstr(&text), stdout);
    }
    status = 0;
done:
    receipt_dispose(&rc);
    certs_signer_free(signer);
    nt_buf_dispose(&out);
    nt_buf_dispose(&text);
    ledger_close(l);
    server_config_free(cfg);
    return status;
}

static int read_checkpoint(checkpoint *cp, const char *path, const note_verifier *v)
{
    nt_buf text = NT_BUF_INIT;
    int error = 0;
    NT_TRY(nt_file_read(&text, path, NOTE_MAX_SIZE));
    NT_TRY(checkpoint_open(cp, (const char *)text.ptr, text.len, v, 0));
done:
    nt_buf_dispose(&text);
    return error;
}

/* {"hashes": ["<base64>", ...]} as returned by GET /v1/proof/consistency. */
static int read_proof(nt_buf *proof, const char *path)
{
    nt_buf text = NT_BUF_INIT;
    json_error_t jerr;
    json_t *root = NULL, *hashes, *h;
    size_t i;
    int error = 0;

    NT_TRY(nt_file_read(&text, path, 1u << 20));
    root = json_loadb((const char *)text.ptr, text.len, 0, &jerr);
    NT_ENSURE(root != NULL, NT_EINVAL, "%s: %s", path, jerr.text);
    hashes = json_object_get(root, "hashes");
    NT_ENSURE(json_is_array(hashes), NT_EINVAL, "%s: no \"hashes\" array", path);
    json_array_foreach (hashes, i, h) {
        NT_ENSURE(json_is_string(h), NT_EINVAL, "%s: hashes[%zu] is not a string", path, i);
        NT_ENSURE(nt_base64_decode(proof, json_string_value(h), json_string_length(h)) == 0 &&
                      proof->len == (i + 1) * 32,
                  NT_EINVAL, "%s: hashes[%zu] is not 32 bytes of base64", path, i);
    }
done:
    json_decref(root);
    nt_buf_dispose(&text);
    return error;
}

static int cmd_check_consistency(const ledger_args *a)
{
    note_verifier v;
    checkpoint old_cp, new_cp;
    nt_buf vkey = NT_BUF_INIT, proof = NT_BUF_INIT;
    int status = 1, rc;

    if (a->log_key == NULL || a->npos != 4) {
        ledger_usage();
        return 2;
    }
    if (nt_file_read(&vkey, a->log_key, 4096) < 0 ||
        note_vkey_parse(&v, (const char *)vkey.ptr, vkey.len) < 0) {
        fprintf(stderr, "notarium ledger: %s: %s\n", a->log_key, nt_error_last());
        goto done;
    }
    if (read_checkpoint(&old_cp, a->pos[1], &v) < 0 ||
        read_checkpoint(&new_cp, a->pos[2], &v) < 0) {
        fprintf(stderr, "notarium ledger: checkpoint: %s\n", nt_error_last());
        goto done;
    }
    if (read_proof(&proof, a->pos[3]) < 0) {
        fprintf(stderr, "notarium ledger: proof: %s\n", nt_error_last());
        goto done;
    }
    rc = merkle_verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root, proof.ptr,
                                   proof.len);
    if (rc < 0) {
        fprintf(stderr, "notarium ledger: NOT consistent: size %llu -> %llu: %s\n",
                (unsigned long long)old_cp.size, (unsigned long long)new_cp.size, nt_error_last());
        goto done;
    }
    printf("consistent: %s size %llu -> %llu\n", old_cp.origin, (unsigned long long)old_cp.size,
           (unsigned long long)new_cp.size);
    status = 0;
done:
    nt_buf_dispose(&vkey);
    nt_buf_dispose(&proof);
    return status;
}

int cmd_ledger(int argc, char **argv)
{
    ledger_args a;

    if (argc >= 2 && strcmp(argv[1], "check") == 0) {
        return cmd_ledger_check(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "restore") == 0) {
        return cmd_ledger_restore(argc - 1, argv + 1); /* cmd_restore.c */
    }
    if (argc < 2 || parse_args(&a, argc, argv) < 0 || a.npos < 1) {
        ledger_usage();
        return 2;
    }
    if (strcmp(a.pos[0], "check-consistency") == 0) {
        return cmd_check_consistency(&a);
    }
    if (strcmp(a.pos[0], "info") == 0 || strcmp(a.pos[0], "get") == 0 ||
        strcmp(a.pos[0], "proof") == 0) {
        return cmd_read(&a, a.pos[0]);
    }
    ledger_usage();
    return 2;
}
