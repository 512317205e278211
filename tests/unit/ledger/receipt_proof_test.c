/*
 * receipt_proof_test.c - receipt_proof_encode (ledger/receipt_proof.c), the
 * proof document of GET /v1/proof/... and `notarium ledger proof`: its exact
 * bytes for both kinds (with and without hashes), and the refusals: a partial
 * hash, a size beyond 2^53, an unknown kind, out of memory.
 */
#include "ledger/receipt.h"
#include "tests/unit/test.h"

static void test_bytes(void)
{
    uint8_t proof[64];
    nt_buf out = NT_BUF_INIT;
    memset(proof, 0, 32);
    memset(proof + 32, 0xff, 32);
    CHECK_OK(receipt_proof_encode(&out, RECEIPT_PROOF_INCLUSION, 3, 7, NT_BYTES(proof, 64)));
    CHECK_STR(nt_buf_cstr(&out), "{\n"
                                 "  \"index\": 3,\n"
                                 "  \"tree_size\": 7,\n"
                                 "  \"hashes\": [\n"
                                 "    \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\n"
                                 "    \"//////////////////////////////////////////8=\"\n"
                                 "  ]\n"
                                 "}\n");
    nt_buf_clear(&out);
    CHECK_OK(receipt_proof_encode(&out, RECEIPT_PROOF_CONSISTENCY, 4, 4, NT_BYTES(NULL, 0)));
    CHECK_STR(nt_buf_cstr(&out), "{\n  \"from\": 4,\n  \"to\": 4,\n  \"hashes\": []\n}\n");
    /* appended */
    CHECK_OK(receipt_proof_encode(&out, RECEIPT_PROOF_CONSISTENCY, 0, (uint64_t)1 << 53,
                                  NT_BYTES(proof, 32)));
    CHECK(strstr(nt_buf_cstr(&out), "}\n{\n  \"from\": 0,\n  \"to\": 9007199254740992,\n") != NULL);
    nt_buf_dispose(&out);
}

static void test_refused(void)
{
    uint8_t proof[33] = {0};
    nt_buf out = NT_BUF_INIT;
    CHECK_ERR(receipt_proof_encode(&out, RECEIPT_PROOF_INCLUSION, 0, 1, NT_BYTES(proof, 33)),
              NT_EINVAL);
    CHECK(strstr(nt_error_last(), "whole number of hashes") != NULL);
    CHECK_ERR(receipt_proof_encode(&out, RECEIPT_PROOF_CONSISTENCY, 1, ((uint64_t)1 << 53) + 1,
                                   NT_BYTES(proof, 32)),
              NT_EINVAL);
    CHECK_ERR(receipt_proof_encode(&out, (receipt_proof_kind)2, 0, 1, NT_BYTES(proof, 32)),
              NT_EINVAL);
    CHECK(out.len == 0);
    /* out of memory at the first allocation of the buffer */
    nt_mem_fail_after(1);
    CHECK_ERR(receipt_proof_encode(&out, RECEIPT_PROOF_INCLUSION, 0, 1, NT_BYTES(proof, 32)),
              NT_ENOMEM);
    nt_mem_fail_after(0);
    CHECK(out.len == 0);
    nt_buf_dispose(&out);
}

int main(void)
{
    test_bytes();
    test_refused();
    return TEST_END();
}
