/*
 * event_test.c - the case event body builder of ledger/event.c: the exact
 * bytes of the example in docs/FORMATS.md "Event body" (whose attribute is
 * the commitment of "+86 138 0000 0000" under the salt 0x02 * 32, recomputed
 * here), normalisation of artifact digests, determinism, the member rules
 * (event_*_valid) and a negative twin for every member the builder checks,
 * each naming the member.
 */
#include "tests/unit/test.h"

#include "ledger/event.h"

#include <openssl/sha.h>

static const char example[] =
    "{\"artifacts\":[{\"digest\":\"sha256:"
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\",\"name\":\"contract."
    "pdf\",\"role\":\"original\"}],\"attributes\":{\"phone\":"
    "\"636f0f6f62f997df76bac51333f472d574517e22e6ec2956c58e4fa4f7761199\"},\"case\":\"c-2026-"
    "0001\",\"kind\":\"document.signed\",\"prev\":"
    "\"0101010101010101010101010101010101010101010101010101010101010101\",\"seq\":2,\"tenant\":"
    "\"acme\",\"type\":\"notarium.event/1\"}";

static uint8_t prev[32];
static event_artifact art;
static event_attribute attr;

static event_fields sample(void)
{
    event_fields ev;
    static const char salt_value[] =
        "notarium.attribute.v1\0phone\0"
        "\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2\2"
        "+86 138 0000 0000";

    memset(prev, 1, sizeof(prev));
    art.digest = "SHA-256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    art.name = "contract.pdf";
    art.role = "original";
    attr.name = "phone";
    /* the commitment of docs/FORMATS.md "Attribute commitment" */
    SHA256((const uint8_t *)salt_value, sizeof(salt_value) - 1, attr.commitment);
    memset(&ev, 0, sizeof(ev));
    ev.tenant = "acme";
    ev.case_id = "c-2026-0001";
    ev.seq = 2;
    ev.prev = prev;
    ev.kind = "document.signed";
    ev.artifacts = &art;
    ev.artifact_count = 1;
    ev.attributes = &attr;
    ev.attribute_count = 1;
    return ev;
}

static void test_example_bytes(void)
{
    event_fields ev = sample();
    nt_buf out = NT_BUF_INIT, again = NT_BUF_INIT;

    CHECK_OK(event_body_build(&out, &ev));
    CHECK(out.len == strlen(example));
    CHECK(out.len == strlen(example) && memcmp(out.ptr, example, out.len) == 0);
    if (out.len != strlen(example) || memcmp(out.ptr, example, out.len) != 0) {
        fprintf(stderr, "  got %.*s\n", (int)out.len, (const char *)out.ptr);
    }
    CHECK_OK(event_body_build(&again, &ev)); /* deterministic, and *out is replaced */
    CHECK(again.len == out.len && memcmp(again.ptr, out.ptr, out.len) == 0);
    CHECK_OK(event_body_build(&again, &ev));
    CHECK(again.len == out.len);
    /* the first event: prev null, no artifacts, no attributes */
    ev.seq = 1;
    ev.prev = NULL;
    ev.artifact_count = 0;
    ev.attribute_count = 0;
    ev.kind = "x-kyc.face-match";
    CHECK_OK(event_body_build(&out, &ev));
    CHECK_STR(nt_buf_cstr(&out),
              "{\"artifacts\":[],\"attributes\":{},\"case\":\"c-2026-0001\",\"kind\":\"x-kyc.face-"
              "match\",\"prev\":null,\"seq\":1,\"tenant\":\"acme\",\"type\":\"notarium.event/1\"}");
    nt_buf_dispose(&out);
    nt_buf_dispose(&again);
}

/* event_body_build refuses with NT_EINVAL and a message naming `member`; out untouched. */
static int refuses(const event_fields *ev, const char *member)
{
    nt_buf out = NT_BUF_INIT;
    int rc;
    REQUIRE(nt_buf_puts(&out, "keep") == 0);
    nt_error_clear();
    rc = event_body_build(&out, ev);
    int ok = rc == NT_EINVAL && strstr(nt_error_last(), member) != NULL && out.len == 4;
    if (!ok) {
        fprintf(stderr, "  expected a refusal naming %s, got %d: %s\n", member, rc,
                nt_error_last());
    }
    nt_buf_dispose(&out);
    return ok;
}

static void test_refusals(void)
{
    event_fields ev;
    event_artifact arts[17];
    event_attribute attrs[33], two[2];

    ev = sample(), ev.tenant = "has space";
    CHECK(refuses(&ev, "tenant"));
    ev = sample(), ev.tenant = "";
    CHECK(refuses(&ev, "tenant"));
    ev = sample(), ev.case_id = "a/b";
    CHECK(refuses(&ev, "case"));
    ev = sample(), ev.seq = 0;
    CHECK(refuses(&ev, "seq"));
    ev = sample(), ev.seq = 1; /* with a prev */
    CHECK(refuses(&ev, "prev"));
    ev = sample(), ev.prev = NULL; /* seq 2 without */
    CHECK(refuses(&ev, "prev"));
    ev = sample(), ev.kind = "document.eaten";
    CHECK(refuses(&ev, "kind"));
    ev = sample(), ev.kind = "x-";
    CHECK(refuses(&ev, "kind"));
    ev = sample(), ev.kind = "x-Caps";
    CHECK(refuses(&ev, "kind"));
    for (size_t i = 0; i < 17; i++) {
        arts[i] = art;
    }
    ev = sample(), ev.artifacts = arts, ev.artifact_count = 17;
    CHECK(refuses(&ev, "artifacts"));
    arts[1].digest = "sha256:00";
    ev = sample(), ev.artifacts = arts, ev.artifact_count = 2;
    CHECK(refuses(&ev, "artifacts[1].digest"));
    arts[1] = art, arts[1].name = "";
    CHECK(refuses(&ev, "artifacts[1].name"));
    arts[1] = art, arts[1].name = "\xff";
    CHECK(refuses(&ev, "artifacts[1].name"));
    arts[1] = art, arts[1].role = "Signer";
    CHECK(refuses(&ev, "artifacts[1].role"));
    for (size_t i = 0; i < 33; i++) {
        attrs[i] = attr;
    }
    ev = sample(), ev.attributes = attrs, ev.attribute_count = 33;
    CHECK(refuses(&ev, "attributes"));
    two[0] = attr, two[1] = attr;
    ev = sample(), ev.attributes = two, ev.attribute_count = 2;
    CHECK(refuses(&ev, "attributes.phone: given twice"));
    two[1].name = "1phone";
    CHECK(refuses(&ev, "attributes.1phone"));
}

static void test_rules(void)
{
    char s129[130];
    memset(s129, 'a', 129);
    s129[129] = '\0';
    CHECK(event_case_valid("contract-2026:0001", 18));
    CHECK(event_case_valid(s129, 128));
    CHECK(!event_case_valid(s129, 129));
    CHECK(!event_case_valid("a b", 3));
    CHECK(event_tenant_valid("Tenant_B.1", 10));
    CHECK(!event_tenant_valid("a:b", 3));
    CHECK(event_kind_valid("case.completed", 14));
    CHECK(event_kind_valid("x-a", 3));
    CHECK(!event_kind_valid("case.complete", 13));
    CHECK(event_attr_name_valid("id_number", 9));
    CHECK(!event_attr_name_valid("_id", 3));
    CHECK(!event_attr_name_valid("", 0));
    CHECK(event_role_valid("signed", 6));
    CHECK(!event_role_valid("Signed", 6));
}

int main(void)
{
    test_example_bytes();
    test_refusals();
    test_rules();
    return TEST_END();
}
