/*
 * cmd_pki.c - `notarium pki init DIR`: a development PKI (root CA, TSA
 * certificate, Ed25519 log key) through certs_pki_init; `pki check` is in
 * cmd_pki_check.c.  For demos and tests;
 * docs/KEYS.md explains what to use in production.
 */
#include "certs/certs.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

int cmd_pki(int argc, char **argv);
int cmd_pki_check(int argc, char **argv); /* cmd_pki_check.c */

static void pki_usage(void)
{
    fprintf(stderr,
            "usage: notarium pki init DIR [--key-type ec-p256|ec-p384|rsa-2048|rsa-3072|"
            "rsa-4096|sm2]\n                         [--origin ORIGIN] [--days N] [--force]\n"
            "       notarium pki check --cert CERT --key KEY|pkcs11:URI [--chain CHAIN] ...\n");
}

int cmd_pki(int argc, char **argv)
{
    certs_pki_options o;
    nt_buf origin = NT_BUF_INIT;
    int status = 1;

    memset(&o, 0, sizeof(o));
    o.tsa_key = CERTS_KEY_EC_P256;
    if (argc >= 2 && strcmp(argv[1], "check") == 0) {
        return cmd_pki_check(argc, argv);
    }
    if (argc < 3 || strcmp(argv[1], "init") != 0 || argv[2][0] == '-') {
        pki_usage();
        return 2;
    }
    o.dir = argv[2];
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--force") == 0) {
            o.force = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "notarium pki: unknown option or missing value: %s\n", a);
            pki_usage();
            return 2;
        }
        if (strcmp(a, "--key-type") == 0) {
            if (certs_key_type_parse(&o.tsa_key, v) < 0 || o.tsa_key == CERTS_KEY_ED25519) {
                fprintf(stderr, "notarium pki: unsupported --key-type %s\n", v);
                return 2;
            }
        } else if (strcmp(a, "--origin") == 0) {
            o.log_origin = v;
        } else if (strcmp(a, "--days") == 0) {
            uint64_t d;
            if (nt_parse_u64(&d, v, strlen(v)) < 0 || d == 0 || d > 36500) {
                fprintf(stderr, "notarium pki: --days must be 1..36500\n");
                return 2;
            }
            o.days = (int)d;
        } else {
            fprintf(stderr, "notarium pki: unknown option %s\n", a);
            pki_usage();
            return 2;
        }
        i++;
    }
    if (o.log_origin == NULL) {
        uint8_t rnd[4];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
            nt_buf_puts(&origin, "notarium.localhost/log-") < 0 ||
            nt_hex_encode(&origin, rnd, sizeof(rnd)) < 0) {
            fprintf(stderr, "notarium pki: cannot make an origin\n");
            goto done;
        }
        o.log_origin = nt_buf_cstr(&origin);
    }
    if (certs_pki_init(&o) < 0) {
        fprintf(stderr, "notarium pki: %s\n", nt_error_last());
        goto done;
    }
    printf("created %s: ca.pem ca.key tsa.pem tsa.key chain.pem log.key log.vkey\n"
           "TSA key: %s; log origin: %s\n",
           o.dir, certs_key_type_name(o.tsa_key), o.log_origin);
    status = 0;
done:
    nt_buf_dispose(&origin);
    return status;
}
