/*
 * case_int.h - private to nt_verifier: the evidence bundle and disclosures
 * in memory (bundle.c parses them), and the case report that verify_case.c
 * fills and report_case.c renders.  Not installed.
 */
#ifndef VERIFIER_CASE_INT_H
#define VERIFIER_CASE_INT_H

#include "verifier/verifier_int.h"

#include "ledger/event.h"

#define CASE_BUNDLE_FORMAT     "notarium.case-bundle"
#define CASE_BUNDLE_VERSION    1
#define CASE_MAX_EVENTS        10000
#define CASE_MAX_DISCLOSURES   256
#define CASE_BUNDLE_MEDIA_TYPE "application/vnd.notarium.case-bundle+json"
#define CASE_ALG_SLOTS         16 /* above every record_alg id */

/* One event of a bundle, as given (nothing checked beyond shape). */
typedef struct case_bundle_event {
    uint64_t seq;
    uint64_t leaf_index;
    nt_buf leaf;
    nt_buf token;
    uint64_t tree_size;
    nt_buf proof; /* n * 32 bytes */
    nt_buf body;  /* the exact body bytes */
} case_bundle_event;

typedef struct case_bundle {
    nt_buf tenant; /* NUL-terminated text */
    nt_buf case_id;
    int sealed;
    nt_buf exported_at;
    nt_buf origin;
    nt_buf checkpoint;
    nt_buf certs[RECEIPT_MAX_CERTS];
    size_t cert_count;
    case_bundle_event *events;
    size_t event_count;
} case_bundle;

void verifier__bundle_dispose(case_bundle *b);
/*
 * Parse a bundle strictly (duplicate members, unknown format/version,
 * anything malformed: NT_EINVAL naming the member, e.g.
 * "events[3].proof.hashes[1]: not 32 bytes of base64").  *out is zeroed
 * first; on failure it is left empty.
 */
int verifier__bundle_parse(case_bundle *out, const char *json, size_t len);

/* One disclosure: the value and salt of an attribute of event `seq`. */
typedef struct case_disclosure {
    uint64_t seq;
    char attribute[EVENT_ATTR_NAME_MAX + 1];
    nt_buf value;
    uint8_t salt[EVENT_SALT_SIZE];
} case_disclosure;

typedef struct case_disclosures {
    case_disclosure *items;
    size_t count;
} case_disclosures;

void verifier__disclosures_dispose(case_disclosures *d);
/* Parse {"disclosures": [{"seq", "attribute", "value", "salt"}]} strictly (NT_EINVAL naming the
 * member). */
int verifier__disclosures_parse(case_disclosures *out, const char *json, size_t len);

/* The checks of the case report, in report order. */
typedef enum case_check_id {
    CASE_CHECK_BUNDLE = 0,      /* the bundle parses */
    CASE_CHECK_EVENTS = 1,      /* every event verifies as a receipt */
    CASE_CHECK_BODIES = 2,      /* every body parses; leaf kind, label */
    CASE_CHECK_CASE = 3,        /* tenant and case of every body are the bundle's */
    CASE_CHECK_CHAIN = 4,       /* seq 1..n, prev = previous leaf hash */
    CASE_CHECK_TIME = 5,        /* genTime never decreases */
    CASE_CHECK_SEAL = 6,        /* sealed iff last is case.completed, nothing after it */
    CASE_CHECK_DOCUMENTS = 7,   /* every document given is an artifact */
    CASE_CHECK_DISCLOSURES = 8, /* every disclosure matches its commitment */
    CASE_CHECK_COUNT = 9,
} case_check_id;

const char *verifier__case_check_name(case_check_id id);

/* What the report shows of one event. */
typedef struct case_event_info {
    uint64_t seq;
    uint64_t leaf_index;
    char leaf_hash[65];
    nt_buf gen_time; /* RFC 3339 with the token's fraction; empty when unknown */
    nt_buf tsa_serial;
    nt_buf kind;
    verifier_indication indication; /* of the event's receipt verification */
    const char *sub;
    int body_ok; /* the body parsed: `body` is valid */
    event_body body;
    int disclosed[EVENT_MAX_ATTRIBUTES]; /* attribute i disclosed and matching its commitment */
    nt_buf values[EVENT_MAX_ATTRIBUTES]; /* its value (UTF-8) */
} case_event_info;

/* A document (or digest) given, and the events whose artifacts claim it. */
typedef struct case_document {
    const char *path;     /* borrowed from the options; NULL for a digest given */
    verifier_input input; /* present when given as a file */
    uint8_t md[CASE_ALG_SLOTS][RECORD_MAX_DIGEST]; /* the file's digest per record_alg */
    int have_md[CASE_ALG_SLOTS];
    nt_buf alg;        /* "sha256" */
    nt_buf digest;     /* hex */
    nt_buf claimed_by; /* "seq,seq,..." empty when none */
} case_document;

struct verifier_case_report {
    time_t now;
    char now_text[32];
    char report_id[40];
    verifier_indication indication;
    const char *sub;
    verifier_step_result checks[CASE_CHECK_COUNT];

    verifier_input bundle;
    verifier_input trust;
    verifier_input log_key;
    verifier_input disclose;
    nt_buf tenant, case_id, origin, checkpoint, root;
    uint64_t tree_size;
    int sealed_claimed, sealed;
    verifier_cert_info tsa; /* the first event's TSA certificate, when verified */
    int have_tsa;

    case_event_info *events;
    size_t event_count;
    case_document documents[VERIFIER_MAX_DOCUMENTS];
    size_t document_count;
    size_t disclosure_count;

    nt_buf limits;
    nt_buf command_line;
};

/* verify_case.c: append a detail line (both languages) to a check, set its status. */
int verifier__case_detail(verifier_case_report *r, case_check_id id, const char *code,
                          const char *en, const char *zh, ...) VERIFIER_PRINTF2(4, 5, 6);
void verifier__case_set(verifier_case_report *r, case_check_id id, verifier_status s,
                        const char *sub);

/* report_case_json.c: the conclusion in plain words, "en" or "zh". */
const char *verifier__case_conclusion(const verifier_case_report *r, const char *lang);
/* verify_case_checks.c: read the --document files (SHA-256) and the digests given. */
int verifier__case_documents_load(verifier_case_report *r, const verifier_case_options *o);
/* verify_case_checks.c: every check after "events", on the parsed bundle and disclosures. */
int verifier__case_checks(verifier_case_report *r, const case_bundle *b,
                          const case_disclosures *dis);

#endif
