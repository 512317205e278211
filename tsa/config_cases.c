/*
 * config_cases.c - the "cases" section of the configuration file
 * (docs/OPERATING.md): the key and certificate that sign the preservation
 * certificates of GET /v1/cases/<case>/certificate (server_cases_cert.c).
 * Absent: the route answers 501.  The files are read by the server, after
 * the privilege drop (server__cases_signer_check at start, and at each
 * signature), not here: the tools that read the configuration need no key.
 */
#include "tsa/config_int.h"

#include <string.h>

int server__config_cases(server_config *cfg, json_t *o)
{
    static const char *const allowed[] = {"certificate_cert", "certificate_key",
                                          "certificate_chain"};
    const char *sec = "cases.";
    int error = 0;

    if (o == NULL || json_is_null(o)) {
        return 0;
    }
    NT_ENSURE(json_is_object(o), NT_EINVAL, "cases: not an object");
    NT_TRY(server_cfg_members(o, sec, allowed, NT_ARRAY_LEN(allowed)));
    NT_TRY(server_cfg_str(&cfg->cases_certificate_cert, o, sec, "certificate_cert", NULL, 1));
    NT_TRY(server_cfg_str(&cfg->cases_certificate_key, o, sec, "certificate_key", NULL, 1));
    NT_TRY(server_cfg_str(&cfg->cases_certificate_chain, o, sec, "certificate_chain", NULL, 1));
    NT_ENSURE((cfg->cases_certificate_cert == NULL) == (cfg->cases_certificate_key == NULL),
              NT_EINVAL, "cases: certificate_cert and certificate_key go together");
    NT_ENSURE(cfg->cases_certificate_chain == NULL || cfg->cases_certificate_cert != NULL,
              NT_EINVAL, "cases.certificate_chain: needs certificate_cert and certificate_key");
    NT_TRY(server_cfg_path(&cfg->cases_certificate_cert, cfg->data_dir));
    NT_TRY(server_cfg_path(&cfg->cases_certificate_key, cfg->data_dir));
    NT_TRY(server_cfg_path(&cfg->cases_certificate_chain, cfg->data_dir));
done:
    return error;
}

void server__config_cases_free(server_config *cfg)
{
    nt_free(cfg->cases_certificate_cert);
    nt_free(cfg->cases_certificate_key);
    nt_free(cfg->cases_certificate_chain);
}
