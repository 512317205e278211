/*
 * load_check.c - notarium-load's check modes: --check-records (every recorded token
 * has a receipt with the same token, proven against a signed checkpoint) and
 * --check-consistency (a later checkpoint is signed and consistent with an earlier one).
 */
#include "tools/load_int.h"

static int vkey_load(note_verifier *out, const char *path)
{
    int error = 0;
    nt_buf text = NT_BUF_INIT;
    NT_TRY(nt_file_read(&text, path, 4096));
    NT_TRY(note_vkey_parse(out, (const char *)text.ptr, text.len));
done:
    nt_buf_dispose(&text);
    return error;
}

/* A checkpoint reply is the signed note itself; tolerate a JSON wrapper {"checkpoint": "..."}. */
static int checkpoint_text(nt_buf *note)
{
    int error = 0;
    json_t *root = NULL;
    if (note->len == 0 || note->ptr[0] != '{') {
        return 0;
    }
    json_error_t jerr;
    root = json_loadb((const char *)note->ptr, note->len, 0, &jerr);
    const char *s = json_string_value(json_object_get(root, "checkpoint"));
    NT_ENSURE(s != NULL, NT_EINVAL, "checkpoint reply is neither a note nor {\"checkpoint\":...}");
    NT_TRY(nt_buf_set(note, s, strlen(s)));
done:
    json_decref(root);
    return error;
}

/*
 * Check one receipt against what the client received: same token bytes,
 * a leaf that holds that token and digest, and (with a vkey) an inclusion
 * proof that leads to the root of the receipt's signed checkpoint.
 */
static int receipt_check(const receipt *r, nt_bytes digest, record_alg alg, nt_bytes token,
                         const note_verifier *v)
{
    int error = 0;
    record rec;
    checkpoint cp;
    if (r->token.len != token.len || memcmp(r->token.ptr, token.ptr, token.len) != 0) {
        return nt_error_set(NT_EVERIFY, "receipt token differs from the token the client got");
    }
    NT_TRY(record_decode(&rec, r->leaf.ptr, r->leaf.len));
    NT_ENSURE(rec.alg == alg && rec.digest.len == digest.len &&
                  memcmp(rec.digest.ptr, digest.ptr, digest.len) == 0,
              NT_EVERIFY, "leaf digest differs");
    NT_ENSURE(rec.token.len == token.len && memcmp(rec.token.ptr, token.ptr, token.len) == 0,
              NT_EVERIFY, "leaf token differs from the token the client got");
    if (v != NULL) {
        uint8_t leaf_hash[MERKLE_HASH_SIZE];
        NT_TRY(checkpoint_open(&cp, (const char *)r->checkpoint.ptr, r->checkpoint.len, v, 0));
        NT_ENSURE(cp.size == r->tree_size, NT_EVERIFY, "proof size %llu != checkpoint size %llu",
                  (unsigned long long)r->tree_size, (unsigned long long)cp.size);
        merkle_leaf_hash(leaf_hash, r->leaf.ptr, r->leaf.len);
        NT_TRY(merkle_verify_inclusion(leaf_hash, r->leaf_index, r->tree_size, r->proof.ptr,
                                       r->proof.len, cp.root));
    }
done:
    return error;
}

int load__check_records(const load_opts *o)
{
    int error = 0;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    client c = {.o = o, .fd = -1, .in = NT_BUF_INIT};
    nt_buf body = NT_BUF_INIT, digest = NT_BUF_INIT, token = NT_BUF_INIT, path = NT_BUF_INIT;
    note_verifier v, *vp = NULL;
    uint64_t total = 0, ok = 0, missing = 0, bad = 0;

    if (o->vkey_path != NULL) {
        NT_TRY(vkey_load(&v, o->vkey_path));
        vp = &v;
    }
    f = fopen(o->check_records, "r");
    NT_ENSURE(f != NULL, NT_EIO, "%s: %s", o->check_records, strerror(errno));
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        /* A line cut short (the writer was killed mid-line) has no newline: skip it. */
        if (line[n - 1] != '\n') {
            break;
        }
        line[--n] = '\0';
        char *colon = strchr(line, ':'), *space = strchr(line, ' ');
        record_alg alg;
        NT_ENSURE(colon != NULL && space != NULL && colon < space, NT_EINVAL,
                  "%s: malformed record line", o->check_records);
        *colon = '\0';
        NT_TRY(record_alg_from_name(&alg, line));
        *colon = ':';
        nt_buf_clear(&digest);
        nt_buf_clear(&token);
        NT_TRY(nt_hex_decode(&digest, colon + 1, (size_t)(space - colon - 1)));
        NT_TRY(nt_base64_decode(&token, space + 1, strlen(space + 1)));
        *space = '\0';
        total++;

        nt_buf_clear(&path);
        NT_TRY(
            nt_buf_printf(&path, "/v1/receipts?digest=%s&limit=100", line)); /* the largest page */
        int status = 0;
        NT_TRY(load__client_get(&status, &body, &c, nt_buf_cstr(&path)));
        json_error_t jerr;
        json_t *root =
            status == 200 ? json_loadb((const char *)body.ptr, body.len, 0, &jerr) : NULL;
        json_t *list = json_object_get(root, "receipts");
        int found = 0;
        const char *why = status == 200 ? "no receipt for this digest" : "HTTP status";
        for (size_t i = 0; i < json_array_size(list) && !found; i++) {
            json_t *item = json_array_get(list, i);
            nt_buf text = NT_BUF_INIT;
            const char *s = json_is_string(item)                           ? json_string_value(item)
                            : nt_json_dump(&text, item, JSON_COMPACT) == 0 ? nt_buf_cstr(&text)
                                                                           : NULL;
            receipt r;
            receipt_init(&r);
            if (s == NULL || receipt_decode(&r, s, strlen(s)) < 0 ||
                receipt_check(&r, nt_buf_bytes(&digest), alg, nt_buf_bytes(&token), vp) < 0) {
                why = nt_error_last();
            } else {
                found = 1;
            }
            receipt_dispose(&r);
            nt_buf_dispose(&text);
        }
        json_decref(root);
        if (found) {
            ok++;
        } else {
            if (json_array_size(list) == 0) {
                missing++;
            } else {
                bad++;
            }
            if (missing + bad <= 5) {
                fprintf(stderr, "notarium-load: %s: %s (HTTP %d)\n", line, why, status);
            }
        }
    }
    printf("records %llu  receipts ok %llu  missing %llu  bad %llu\n", (unsigned long long)total,
           (unsigned long long)ok, (unsigned long long)missing, (unsigned long long)bad);
    if (missing + bad > 0) {
        error = nt_error_set(NT_EVERIFY, "%llu of %llu tokens have no matching receipt",
                             (unsigned long long)(missing + bad), (unsigned long long)total);
    }
done:
    if (f != NULL) {
        fclose(f);
    }
    free(line);
    load__client_close(&c);
    nt_buf_dispose(&c.in);
    nt_buf_dispose(&body);
    nt_buf_dispose(&digest);
    nt_buf_dispose(&token);
    nt_buf_dispose(&path);
    return error;
}

int load__check_consistency(const load_opts *o)
{
    int error = 0;
    client c = {.o = o, .fd = -1, .in = NT_BUF_INIT};
    nt_buf old_note = NT_BUF_INIT, new_note = NT_BUF_INIT, body = NT_BUF_INIT, path = NT_BUF_INIT;
    nt_buf proof = NT_BUF_INIT;
    note_verifier v;
    checkpoint old_cp, new_cp;
    json_t *root = NULL;
    int status = 0, have_old = 0;

    NT_ENSURE(o->vkey_path != NULL, NT_EINVAL, "--check-consistency needs --vkey");
    NT_TRY(vkey_load(&v, o->vkey_path));
    if (nt_path_exists(o->check_consistency)) {
        NT_TRY(nt_file_read(&old_note, o->check_consistency, NOTE_MAX_SIZE));
        NT_TRY(checkpoint_open(&old_cp, (const char *)old_note.ptr, old_note.len, &v, 0));
        have_old = 1;
    }
    NT_TRY(load__client_get(&status, &new_note, &c, "/v1/checkpoint"));
    NT_ENSURE(status == 200, NT_EVERIFY, "GET /v1/checkpoint: HTTP %d", status);
    NT_TRY(checkpoint_text(&new_note));
    NT_TRY(checkpoint_open(&new_cp, (const char *)new_note.ptr, new_note.len, &v, 0));
    if (have_old) {
        /* RFC 9162 2.1.4: the log only grows, so the later head must extend the earlier one. */
        NT_ENSURE(new_cp.size >= old_cp.size, NT_EVERIFY, "tree size went down: %llu -> %llu",
                  (unsigned long long)old_cp.size, (unsigned long long)new_cp.size);
        if (old_cp.size > 0 && old_cp.size < new_cp.size) {
            NT_TRY(nt_buf_printf(&path, "/v1/proof/consistency?from=%llu&to=%llu",
                                 (unsigned long long)old_cp.size, (unsigned long long)new_cp.size));
            NT_TRY(load__client_get(&status, &body, &c, nt_buf_cstr(&path)));
            NT_ENSURE(status == 200, NT_EVERIFY, "GET %s: HTTP %d", nt_buf_cstr(&path), status);
            json_error_t jerr;
            root = json_loadb((const char *)body.ptr, body.len, 0, &jerr);
            json_t *hashes = json_object_get(root, "hashes");
            NT_ENSURE(json_is_array(hashes), NT_EINVAL, "consistency proof without \"hashes\"");
            for (size_t i = 0; i < json_array_size(hashes); i++) {
                const char *h = json_string_value(json_array_get(hashes, i));
                size_t before = proof.len;
                NT_ENSURE(h != NULL, NT_EINVAL, "hashes[%zu] is not a string", i);
                NT_TRY(nt_base64_decode(&proof, h, strlen(h)));
                NT_ENSURE(proof.len - before == MERKLE_HASH_SIZE, NT_EINVAL,
                          "hashes[%zu] is not 32 bytes", i);
            }
        }
        NT_TRY(merkle_verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root,
                                         proof.ptr, proof.len));
        printf("consistent %llu -> %llu (%zu hashes)\n", (unsigned long long)old_cp.size,
               (unsigned long long)new_cp.size, proof.len / MERKLE_HASH_SIZE);
    } else {
        printf("checkpoint %llu (signature ok; no earlier checkpoint to compare)\n",
               (unsigned long long)new_cp.size);
    }
    if (o->save_checkpoint != NULL) {
        NT_TRY(nt_file_write_atomic(o->save_checkpoint, new_note.ptr, new_note.len, 0644));
    }
done:
    json_decref(root);
    load__client_close(&c);
    nt_buf_dispose(&c.in);
    nt_buf_dispose(&old_note);
    nt_buf_dispose(&new_note);
    nt_buf_dispose(&body);
    nt_buf_dispose(&path);
    nt_buf_dispose(&proof);
    return error;
}
