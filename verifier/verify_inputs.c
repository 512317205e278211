/*
 * verify_inputs.c - reading what the verifier examines (step 1 of
 * docs/REPORT.md): the receipt, trust anchors, log key and CRLs loaded and
 * identified by their SHA-256, the document hashed streamed, a supplied
 * ALG:HEX digest parsed, certificates described for the report.  Part of
 * nt_verifier; verify.c calls these helpers before and during the steps.
 */
#include "verifier/verifier_int.h"

#include "ledger/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#define MAX_INPUT_FILE (64u * 1024u * 1024u)
#define READ_CHUNK     (1u << 20)

/* ------------------------------------------------------------------ inputs */

static void sha256_hex(char out[65], const uint8_t *data, size_t len)
{
    uint8_t md[32];
    SHA256(data, len, md);
    nt_hex_fill(out, md, sizeof(md));
}

/* Load an input given as bytes or as a file, recording its name, size and SHA-256. */
int verifier__input_load(nt_buf *data, verifier_input *info, const char *path, nt_bytes bytes,
                         const char *what)
{
    int error = 0;
    if (bytes.ptr != NULL) {
        NT_TRY(nt_buf_set(data, bytes.ptr, bytes.len));
        NT_TRY(nt_buf_set(&info->name, "(inline)", 8));
    } else {
        NT_ENSURE(path != NULL, NT_EINVAL, "no %s given", what);
        error = nt_file_read(data, path, MAX_INPUT_FILE);
        if (error < 0) {
            error = nt_error_set(error == NT_ERANGE ? NT_ERANGE : NT_EIO, "%s %s: %s", what, path,
                                 nt_error_last());
            goto done;
        }
        NT_TRY(nt_buf_set(&info->name, path, strlen(path)));
    }
    info->present = 1;
    info->size = data->len;
    sha256_hex(info->sha256, data->ptr != NULL ? data->ptr : (const uint8_t *)"", data->len);
done:
    return error;
}

int verifier__asn1_int_hex(nt_buf *out, const ASN1_INTEGER *v)
{
    int error = 0;
    BIGNUM *bn = NULL;
    char *hex = NULL;
    NT_OSSL_PTR(bn = ASN1_INTEGER_to_BN(v, NULL), "integer");
    NT_OSSL_PTR(hex = BN_bn2hex(bn), "integer hex");
    for (char *p = hex; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'F') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    NT_TRY(nt_buf_set(out, hex, strlen(hex)));
done:
    BN_free(bn);
    OPENSSL_free(hex);
    return error;
}

int verifier__cert_info_fill(verifier_cert_info *c, X509 *x)
{
    int error = 0;
    BIO *bio = NULL;
    uint8_t md[32];
    unsigned mdlen = 0;
    const unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;

    for (int pass = 0; pass < 2; pass++) {
        NT_OSSL_PTR(bio = BIO_new(BIO_s_mem()), "BIO_new");
        X509_NAME_print_ex(bio, pass == 0 ? X509_get_subject_name(x) : X509_get_issuer_name(x), 0,
                           flags);
        char *p = NULL;
        long n = BIO_get_mem_data(bio, &p);
        NT_TRY(nt_buf_set(pass == 0 ? &c->subject : &c->issuer, p != NULL ? p : "",
                          n > 0 ? (size_t)n : 0));
        BIO_free(bio);
        bio = NULL;
    }
    NT_TRY(verifier__asn1_int_hex(&c->serial, X509_get0_serialNumber(x)));
    NT_OSSL(X509_digest(x, EVP_sha256(), md, &mdlen), "certificate digest");
    nt_hex_fill(c->sha256, md, 32);
    struct tm tm;
    const ASN1_TIME *times[2] = {X509_get0_notBefore(x), X509_get0_notAfter(x)};
    char *outs[2] = {c->not_before, c->not_after};
    for (int i = 0; i < 2; i++) {
        /* A malformed time is the certificate's defect, reported by the step that judges it. */
        if (ASN1_TIME_to_tm(times[i], &tm) != 1) {
            ERR_clear_error();
            snprintf(outs[i], 32, "(malformed)");
            continue;
        }
        strftime(outs[i], 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
done:
    BIO_free(bio);
    return error;
}

/* Parse "ALG:HEX" (record_digest_parse), naming the option in the message. */
int verifier__digest_parse(record_alg *alg, nt_buf *digest, const char *text)
{
    char msg[160];
    int error = record_digest_parse(alg, digest, text);
    if (error < 0) {
        snprintf(msg, sizeof(msg), "%s", nt_error_last());
        error = nt_error_set(NT_EINVAL, "--digest: %s", msg);
    }
    return error;
}

/*
 * Hash the document streamed, with the token's algorithm and (for the
 * inputs step) SHA-256 in the same pass, so a multi-GB file is read once.
 */
int verifier__document_hash(verifier_input *info, uint8_t *md, unsigned *md_len, const char *path,
                            const EVP_MD *alg)
{
    int error = 0;
    int fd = -1;
    uint8_t *chunk = NULL;
    EVP_MD_CTX *c256 = NULL, *calg = NULL;
    uint8_t d256[32];
    unsigned n256 = 0;
    uint64_t total = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    NT_ENSURE(fd >= 0, NT_EIO, "document %s: %s", path, strerror(errno));
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    NT_ENSURE((chunk = nt_malloc(READ_CHUNK)) != NULL, NT_ENOMEM, "out of memory");
    NT_OSSL_PTR(c256 = EVP_MD_CTX_new(), "EVP_MD_CTX_new");
    NT_OSSL(EVP_DigestInit_ex(c256, EVP_sha256(), NULL), "sha256 init");
    if (alg != NULL && EVP_MD_get_type(alg) != NID_sha256) {
        NT_OSSL_PTR(calg = EVP_MD_CTX_new(), "EVP_MD_CTX_new");
        NT_OSSL(EVP_DigestInit_ex(calg, alg, NULL), "digest init");
    }
    for (;;) {
        ssize_t n = read(fd, chunk, READ_CHUNK);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        NT_ENSURE(n >= 0, NT_EIO, "document %s: %s", path, strerror(errno));
        if (n == 0) {
            break;
        }
        total += (uint64_t)n;
        NT_OSSL(EVP_DigestUpdate(c256, chunk, (size_t)n), "digest");
        if (calg != NULL) {
            NT_OSSL(EVP_DigestUpdate(calg, chunk, (size_t)n), "digest");
        }
    }
    NT_OSSL(EVP_DigestFinal_ex(c256, d256, &n256), "digest");
    nt_hex_fill(info->sha256, d256, 32);
    info->size = total;
    info->present = 1;
    NT_TRY(nt_buf_set(&info->name, path, strlen(path)));
    if (calg != NULL) {
        NT_OSSL(EVP_DigestFinal_ex(calg, md, md_len), "digest");
    } else {
        memcpy(md, d256, 32);
        *md_len = 32;
    }
done:
    if (fd >= 0) {
        close(fd);
    }
    nt_free(chunk);
    EVP_MD_CTX_free(c256);
    EVP_MD_CTX_free(calg);
    return error;
}
