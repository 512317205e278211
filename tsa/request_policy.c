/*
 * request_policy.c - tsa_request_policy: the reqPolicy of a TimeStampReq, read
 * before the request is answered, so that a server with several signing
 * identities can hand the request to the identity of that policy.  Part of the
 * TSA core (nt_tsa_core); every check of the request stays with tsa_respond.
 */
#include "tsa/core_int.h"

#include <openssl/err.h>

void tsa_request_policy(char *out, size_t cap, nt_bytes request_der)
{
    const unsigned char *p = request_der.ptr;
    TS_REQ *req = NULL;
    const ASN1_OBJECT *policy;
    int n;

    if (cap == 0) {
        return;
    }
    out[0] = '\0';
    if (request_der.len == 0 || request_der.len > TSA_MAX_REQUEST_DER) {
        return;
    }
    req = d2i_TS_REQ(NULL, &p, (long)request_der.len);
    if (req != NULL && (policy = TS_REQ_get_policy_id(req)) != NULL) {
        n = OBJ_obj2txt(out, (int)cap, policy, 1);
        if (n <= 0 || (size_t)n >= cap) {
            out[0] = '\0';
        }
    }
    TS_REQ_free(req);
    ERR_clear_error();
}
