/*
 * cmd_pki_check.c - `notarium pki check --cert C --key K|URI [--chain CH]`:
 * the server's start-up checks (certs_signer_inspect; with --qualified also
 * the qualified-TSU statement of tsa.qualified) as a command, for a
 * certificate and key before they go live.  One finding a line ("defect:",
 * "warning:", "note:"); exit 1 on any defect, 0 when clean, 2 for usage.
 * Unlike the server, it does not stop at a key file others can read: it
 * reports that as a defect and goes on to check the rest.
 */
#include "certs/certs.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int cmd_pki_check(int argc, char **argv);

static void check_usage(void)
{
    fprintf(
        stderr,
        "usage: notarium pki check --cert CERT.pem --key KEY.pem|pkcs11:URI [--chain CHAIN.pem]\n"
        "                          [--passphrase-file FILE] [--pkcs11-module LIB.so]\n"
        "                          [--pin-file FILE | --pin-env VAR] [--qualified]\n");
}

/* A secret file (key, passphrase, PIN) group or others may access is a defect. */
static int mode_defect(const char *what, const char *path)
{
    struct stat st;
    if (path == NULL || certs_uri_is_pkcs11(path) || stat(path, &st) != 0 ||
        (st.st_mode & 0077) == 0) {
        return 0;
    }
    printf("defect: %s %s is accessible by group or others (mode %04o): chmod 600 %s\n", what, path,
           (unsigned)(st.st_mode & 07777), path);
    return 1;
}

int cmd_pki_check(int argc, char **argv)
{
    static const char *const sev[] = {"defect", "warning", "note"};
    certs_signer_source src;
    certs_signer *s = NULL;
    certs_findings f;
    size_t defects = 0;
    int status = 1, qualified = 0;

    memset(&src, 0, sizeof(src));
    src.lax_modes = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--qualified") == 0) { /* ETSI EN 319 422 qualified TSU */
            qualified = 1;
            continue;
        }
        const char **slot = strcmp(a, "--cert") == 0              ? &src.cert
                            : strcmp(a, "--key") == 0             ? &src.key
                            : strcmp(a, "--chain") == 0           ? &src.chain
                            : strcmp(a, "--passphrase-file") == 0 ? &src.key_passphrase_file
                            : strcmp(a, "--pkcs11-module") == 0   ? &src.pkcs11.module
                            : strcmp(a, "--pin-file") == 0        ? &src.pkcs11.pin_file
                            : strcmp(a, "--pin-env") == 0         ? &src.pkcs11.pin_env
                                                                  : NULL;
        if (slot == NULL || v == NULL) {
            fprintf(stderr, "notarium pki check: unknown option or missing value: %s\n", a);
            check_usage();
            return 2;
        }
        *slot = v;
        i++;
    }
    if (src.cert == NULL || src.key == NULL) {
        check_usage();
        return 2;
    }
    defects += (size_t)mode_defect("key file", src.key);
    defects += (size_t)mode_defect("passphrase file", src.key_passphrase_file);
    defects += (size_t)mode_defect("PIN file", src.pkcs11.pin_file);
    if (certs_signer_load(&s, &src) < 0) {
        printf("defect: %s\n", nt_error_last());
        goto done;
    }
    if (certs_signer_inspect(&f, s, time(NULL)) < 0) {
        printf("defect: %s\n", nt_error_last());
        goto done;
    }
    for (size_t i = 0; i < f.count; i++) {
        printf("%s: %s\n", sev[f.item[i].severity], f.item[i].text);
    }
    defects += f.defects;
    if (qualified && certs_cert_qualified(s->cert) < 0) {
        printf("defect: %s\n", nt_error_last());
        defects++;
    } else if (qualified) {
        printf("note: certificate carries the ETSI EN 319 422 qualified-TSU statement\n");
    }
    if (defects == 0) {
        printf("ok: no defect\n");
        status = 0;
    }
done:
    certs_signer_free(s);
    return status;
}
