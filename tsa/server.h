/*
 * server.h - the daemon: its configuration file (config.c), the assembly of
 * signer + tsa + ledger (server.c) and the HTTP front end (http.c and
 * http_async.c, the only files that include <microhttpd.h>, with http_guard.c
 * and http_pool.c).  tools/cmd_serve.c is a thin wrapper
 * around this header; tests and other tools may use it the same way.
 *
 * Life cycle:  server_config_load -> server_new (loads keys, runs the
 * start-up checks, opens the ledger, starts listening) -> ... ->
 * server_shutdown (stop accepting, finish queued appends) -> server_free.
 *
 * Thread safety: server_new / server_shutdown / server_free are called by
 * one controlling thread; everything else runs on the HTTP worker threads and
 * the ledger's sequencer thread and takes no global lock.
 */
#ifndef TSA_SERVER_H
#define TSA_SERVER_H

#include "tsa/tsa.h"
#include "util/util.h"

#define SERVER_DEFAULT_LISTEN   "127.0.0.1:3161"
#define SERVER_DEFAULT_MAX_BODY 65536
#define SERVER_DEFAULT_POLICY   "2.999.3161.1" /* ITU-T example arc: demo only, set your own */
#define SERVER_MAX_API_KEYS     64
#define SERVER_MAX_REMOTES      16
#define SERVER_MAX_TLS_CLIENTS  64
#define SERVER_MAX_IDENTITIES   8

/*
 * One signing identity (tsa.identities[], docs/OPERATING.md): its key and certificates as
 * tsa.cert/key/... name them, the policy OID its tokens carry (and that routes requests to
 * it), and whether it signs requests that name no policy of another identity.  Without
 * tsa.identities the configuration has one, named "tsa", made of tsa.cert/key/... and
 * tsa.policy.  Strings owned like the rest of server_config.
 */
typedef struct server_identity_config {
    char name[65];
    char *policy;
    int is_default;
    char *cert;
    char *key;
    char *key_passphrase_file;
    char *chain;
    char *pkcs12;
    char *pkcs12_passphrase_file;
} server_identity_config;

/*
 * One API key entry: the clear key is never stored, only SHA-256(salt || key).
 * tenant: the platform the key belongs to (1..64 of [A-Za-z0-9._-]; the id when the
 * entry names none).  Keys of one tenant share its evidence and cases; the id alone
 * tells keys apart in logs and limits.
 */
typedef struct server_api_key {
    char id[65];
    char tenant[65];
    uint8_t salt[64];
    size_t salt_len;
    uint8_t sha256[32];
} server_api_key;

/* Client certificates on the HTTPS listener (tls.client_auth). */
typedef enum server_tls_client_auth {
    SERVER_TLS_CLIENT_NONE = 0, /* none asked for */
    SERVER_TLS_CLIENT_OPTIONAL, /* asked for; a presented one must be good and mapped */
    SERVER_TLS_CLIENT_REQUIRED, /* a good, mapped certificate or no connection */
} server_tls_client_auth;

/*
 * One tls.clients entry: a client certificate, by the SHA-256 of its DER or by
 * its subject (RFC 4514 text, "CN=a,O=b"), that authenticates as the API key entry
 * api_keys[key_index] (tenant, metadata owner and limits follow that entry).
 */
typedef struct server_tls_client {
    int has_sha256;
    uint8_t sha256[32];
    char *subject; /* NULL when matched by sha256 */
    size_t key_index;
} server_tls_client;

/*
 * The "limits" section (tsa/config_limits.c, docs/OPERATING.md): token buckets per route
 * class (SERVER_LIMIT_CLASS_*: /tsa, the /v1 writes, /v1/verify) and scope (per client
 * address, per API key, per tenant).  rate 0 = no limit of that kind.
 */
#define SERVER_LIMIT_CLASSES 3 /* tsa, evidence, verify: server_limit_class_names */
#define SERVER_LIMIT_SCOPES  3 /* per_address, per_key, per_tenant */
typedef struct server_limit {
    uint32_t rate;  /* tokens per second; 0 = unlimited */
    uint32_t burst; /* bucket size (requests allowed at once) */
} server_limit;

typedef struct server_limit_override {
    char key_id[65]; /* an api_keys id, or "" when the override names a tenant */
    char tenant[65]; /* a tenant, or "" */
    int has[SERVER_LIMIT_CLASSES];
    server_limit limit[SERVER_LIMIT_CLASSES]; /* replaces per_key (or per_tenant) */
} server_limit_override;

typedef struct server_limits {
    int enabled;          /* any limit configured */
    unsigned max_buckets; /* size of the bucket table */
    server_limit limit[SERVER_LIMIT_CLASSES][SERVER_LIMIT_SCOPES];
    server_limit_override overrides[SERVER_MAX_API_KEYS];
    size_t override_count;
} server_limits;

/*
 * The parsed configuration file (see docs/OPERATING.md for every member).
 * Every string is owned by the struct and released by server_config_free;
 * relative paths in the file have been resolved against data_dir.
 */
typedef struct server_config {
    char *data_dir;   /* the --data directory */
    char *listen;     /* "ADDR:PORT" ("[v6]:PORT" for IPv6); NULL = no plain HTTP listener */
    unsigned threads; /* HTTP worker threads; 0 = number of CPUs */
    size_t max_body;  /* largest request body accepted, bytes */
    nt_log_level log_level;
    char *user; /* started as root: drop to this user after binding; NULL */

    tsa_config tsa; /* its strings point into the members below */
    char *tsa_policy;
    char *tsa_accepted_policies[TSA_MAX_POLICIES];
    char *tsa_accepted_extensions[TSA_MAX_EXTENSIONS];
    char *tsa_signing_digest;
    char *tsa_sm2_id;              /* SM2 signer identifier; NULL = the GB/T default */
    int tsa_qualified;             /* ETSI EN 319 422 qualified TSU: the certificate must say so */
    char *tsa_cert;                /* PEM certificate (may hold the chain too) */
    char *tsa_key;                 /* PEM private key, or a pkcs11: URI (kept as given) */
    char *tsa_key_passphrase_file; /* NULL = key not encrypted */
    char *tsa_chain;               /* PEM issuers; NULL = none */
    char *tsa_pkcs12;              /* when set, replaces cert/key/chain */
    char *tsa_pkcs12_passphrase_file;
    server_identity_config
        identities[SERVER_MAX_IDENTITIES]; /* at least one (config_identities.c) */
    size_t identity_count;
    int tsa_record_certificates; /* tsa.record_certificates: kind-0x04 leaves (default true) */

    char *ledger_path;
    char *ledger_origin;
    char *ledger_log_key; /* Ed25519 PEM key, or a pkcs11: URI (kept as given) */
    uint64_t ledger_map_size_mb;
    unsigned ledger_batch_max;
    unsigned ledger_batch_window_us;
    unsigned ledger_queue_max;
    int ledger_no_sync;
    unsigned ledger_full_retry_ms; /* first back-off after a full store (ledger.h) */
    int ledger_check_at_start;     /* run ledger_check before serving; refuse on a problem */

    server_api_key api_keys[SERVER_MAX_API_KEYS];
    size_t api_key_count;

    size_t evidence_max_metadata_bytes;

    /* The git mirror (ledger/mirror.h, docs/MIRROR.md); mirror_path NULL = no mirror. */
    char *mirror_path;
    unsigned mirror_interval_ms;
    char *mirror_remotes[SERVER_MAX_REMOTES]; /* config remotes, then each --mirror-remote */
    size_t mirror_remote_count;
    unsigned mirror_retry_min_ms;    /* push back-off: first delay, ms (default 1000) */
    unsigned mirror_retry_max_ms;    /* push back-off: ceiling, ms (default 60000) */
    unsigned mirror_push_timeout_ms; /* a push running longer is killed (default 30000) */
    unsigned mirror_stop_timeout_ms; /* shutdown waits at most this for pushes (default 5000) */

    /* The verification page (docs/VERIFY-PAGE.md). */
    int web_verify_page;    /* serve /, /verify, /web/ (default true) */
    char *web_report_trust; /* PEM roots of report signers for /v1/verify-report; NULL */

    /* The "cases" section (config_cases.c): the signer of GET /v1/cases/<case>/certificate;
     * NULL cert = no certificates (501). */
    char *cases_certificate_cert;  /* PEM certificate (chain may follow) */
    char *cases_certificate_key;   /* PEM private key (mode 0600/0400) */
    char *cases_certificate_chain; /* PEM extra certificates; NULL */

    /* The "http" section: connection limits and time bounds (docs/OPERATING.md). */
    unsigned http_max_connections;    /* open connections at most; 0 = from the fd limit */
    unsigned http_max_per_address;    /* open connections per client address; 0 = no cap */
    unsigned http_reserved;           /* of max_connections, kept for /healthz and /metrics */
    unsigned http_request_timeout_ms; /* a request's headers and body must arrive within it */
    unsigned http_drain_timeout_ms;   /* shutdown waits this long for pending commits */
    unsigned http_commit_stall_ms;    /* /healthz not ready once a commit pends this long */
    /* "pkcs11": the module for pkcs11: keys and the PIN's source (docs/KEYS.md); NULL = none. */
    char *pkcs11_module;
    char *pkcs11_pin_file;
    char *pkcs11_pin_env; /* the name of the environment variable */
    server_limits limits; /* "limits": per-client rate limits (absent = none) */

    /* The "tls" section (tsa/config_tls.c, docs/OPERATING.md "TLS"); tls_listen NULL = no
     * HTTPS listener.  admin_listen: /metrics on its own plain listener; NULL = public. */
    char *tls_listen;
    char *tls_cert;      /* PEM certificate, then its chain */
    char *tls_key;       /* PEM private key (mode 0600/0400) */
    char *tls_client_ca; /* PEM roots client certificates must chain to; NULL = none */
    server_tls_client_auth tls_client_auth;
    server_tls_client tls_clients[SERVER_MAX_TLS_CLIENTS];
    size_t tls_client_count;
    char *admin_listen;
} server_config;

/*
 * Parse a configuration file / text.  data_dir is required (relative paths
 * are resolved against it).  NT_EINVAL with a message naming the member
 * ("tsa.accuracy_ms: not a non-negative integer") for anything malformed or
 * unknown; NT_ENOTFOUND if the file does not exist.  *out is the caller's.
 */
int server_config_load(server_config **out, const char *path, const char *data_dir);
int server_config_parse(server_config **out, const char *json, size_t len, const char *data_dir);
void server_config_free(server_config *cfg);

/*
 * Load the TSA signer the configuration names: tsa.pkcs12 (with its passphrase file), or
 * tsa.cert + tsa.key (a PEM file + passphrase file, or a pkcs11: URI with the "pkcs11"
 * section) + tsa.chain, through certs_signer_load.  *out is the caller's
 * (certs_signer_free).  Codes of certs_signer_load; NT_EINVAL for a key, passphrase or PIN
 * file group or others can read, NT_ENOTFOUND or NT_EIO for an unreadable one.  Does not run
 * certs_signer_check.  (tsa/server_signer.c)
 */
int server_config_signer_load(certs_signer **out, const server_config *cfg);
/* The same for one identity of cfg->identities (its files, cfg's pkcs11 section). */
int server_identity_signer_load(certs_signer **out, const server_config *cfg,
                                const server_identity_config *id);

/*
 * The default configuration file as JSON text (appended to out), with
 * `origin`, one API key entry (`api_key_json`, a JSON object as printed by
 * server_api_key_new; NULL = no key) and allow_unsynced_clock as given.
 */
int server_config_default_json(nt_buf *out, const char *origin, const char *api_key_json,
                               int allow_unsynced_clock);

/*
 * A fresh API key: the clear key (appended to key_out, printable ASCII) and
 * its configuration entry {"id":..,["tenant":..,]"salt":..,"sha256":..} (appended to
 * entry_out).  id and tenant (NULL = the id) must be 1..64 characters of [A-Za-z0-9._-].
 */
int server_api_key_new(nt_buf *key_out, nt_buf *entry_out, const char *id, const char *tenant);

/*
 * Check a presented key against every configured key, in constant time per
 * entry.  Returns the matching entry (borrowed) or NULL.
 */
const server_api_key *server_api_key_check(const server_config *cfg, const char *key, size_t len);

/* The entry with this id (borrowed), or NULL. */
const server_api_key *server_api_key_by_id(const server_config *cfg, const char *id);

/*
 * Prepare a demo data directory (serve --demo): on first use create dir
 * (0700), dir/pki (certs_pki_init, EC P-256), dir/config.json (the defaults,
 * allow_unsynced_clock true, one API key "demo"), dir/demo-api-key (the clear
 * key, 0600) and dir/ledger; later calls reuse what exists (a pki/ made
 * beforehand with `notarium pki init` is kept, its log.vkey gives the origin).
 */
int server_demo_prepare(const char *dir);

typedef struct server_options {
    const char *listen;    /* overrides cfg->listen when not NULL */
    int threads;           /* overrides cfg->threads when >= 0 */
    const char *port_file; /* "ADDR:PORT\n" written atomically after listening, then
                              "tls ADDR:PORT\n" and "admin ADDR:PORT\n" lines for
                              those listeners; NULL = none */
    int allow_new_ledger;  /* 1 = create a new ledger even where the directory ran before
                              (server_ledger_guard); `serve --allow-new-ledger` */
    int has_listen_fd;     /* 1: listen_fd is a socket from server_listen_open, used */
    int listen_fd;         /* instead of binding (owned by the server from server_new on) */
    int has_tls_fd;        /* the same for tls.listen */
    int tls_fd;
    int has_admin_fd; /* the same for admin_listen */
    int admin_fd;
    const char *config_path; /* the file server_reload re-reads; NULL = data_dir/config.json */
} server_options;

typedef struct server server;

/*
 * Start the daemon: load the signer and run certs_signer_check (NT_EINVAL
 * with its one-line reason on failure: the caller prints it and exits 1),
 * refuse a lost ledger (server_ledger_guard, server_ledger_guard_head: NT_ESTATE),
 * open the ledger, read and bump data_dir/state/boot-epoch, start the git mirror
 * (unless cfg->mirror_path is NULL; its first commit is made here, and a
 * repository it cannot open or that is not a prefix of the ledger fails the
 * start with a one-line reason), create the tsa, listen and start the HTTP
 * worker threads, then write the port file.  cfg must
 * outlive the server.  Call with SIGTERM/SIGINT blocked so that the worker
 * threads inherit the mask and the caller can sigwait for them.
 */
int server_new(server **out, const server_config *cfg, const server_options *opts);

/*
 * Reload the HTTPS listener's credentials (tls.cert, tls.key, tls.client_ca) from their
 * files and swap them in atomically for new connections; open connections keep theirs.
 * A bad set (unreadable file, key readable by group or others, key not the certificate's,
 * client CA without a certificate) is refused with its code and an error log line, and
 * the set in use keeps serving.  NT_ESTATE when there is no tls section.  Thread-safe;
 * server_reload calls it.  (tsa/http_tls.c)
 */
int server_tls_reload(server *s);

/*
 * Reload (SIGHUP, `notarium reload`; docs/OPERATING.md "Reloading"): re-read the
 * configuration file, load and check its signing identities (keys, certificates, chains)
 * and API keys, record new certificates in the ledger, and swap them in without stopping:
 * requests in flight finish with the identities and keys they began with.  Anything wrong
 * (syntax, an unreadable key, a mismatched or unfit certificate) is refused: logged, the
 * old configuration keeps serving, NT_EINVAL (or the failing code) returned.  Settings a
 * reload cannot change (listen, ledger, origin, log key, mirror, http, threads, ...) are
 * logged as ignored until restart.  Then the TLS credentials are reloaded
 * (server_tls_reload) when there is a tls section.
 * Called by the controlling thread (one at a time; concurrent calls serialise).
 */
int server_reload(server *s);

/* The address actually bound, "ADDR:PORT" (borrowed): the plain listener's, or the HTTPS
 * listener's when there is no plain one. */
const char *server_address(const server *s);

/*
 * Stop accepting connections, answer requests whose appends are queued
 * (their tokens are sent once committed), stop the HTTP threads, stop the
 * mirror (one last commit and one push attempt per remote that is behind)
 * and close the ledger.  Returns 0, or NT_EBUSY when appends were still not
 * committed after cfg->http_drain_timeout_ms (a stalled disk): their
 * requests were answered 503 (RFC 3161 systemFailure), and the ledger and
 * the mirror were left open because closing them would wait for the stalled
 * commit; the caller should then exit the process (server_free releases
 * what it safely can).  Idempotent.
 */
int server_shutdown(server *s);

/* Shut down if needed and release everything (see server_shutdown for a stalled ledger).
 * NULL ok. */
void server_free(server *s);

/*
 * One log per key (docs/OPERATING.md, "Disaster recovery"): before the ledger
 * is opened, refuse (NT_ESTATE, with the one-line reason naming `notarium
 * ledger restore`) when cfg->ledger_path holds no ledger (data.mdb missing or
 * empty) although the data directory ran before: the ledger marker
 * state/ledger, state/boot-epoch or the git mirror exists.  With allow_new it
 * logs a warning instead and returns 0.  NT_ECORRUPT never: a damaged marker
 * counts as a trace of a past run.
 */
int server_ledger_guard(const server_config *cfg, int allow_new);

/*
 * After the open: refuse (NT_ESTATE) a ledger whose head (size, root) is
 * behind the head the marker recorded, or of the same size with another root
 * (unless allow_new), then record (size, root) in the marker.  NT_ECORRUPT
 * for a marker that is not one of this log's.
 */
int server_ledger_guard_head(const server_config *cfg, uint64_t size, const uint8_t root[32],
                             int allow_new);

/* Raise data_dir/state/boot-epoch to at least `epoch` (a restore: the next start then
 * issues serials of a later epoch than every restored token's). */
int server_boot_epoch_raise(const char *data_dir, uint32_t epoch);

/* Write the marker state/ledger (docs/FORMATS.md) for the head (size, root), atomically. */
int server_ledger_mark(const server_config *cfg, uint64_t size, const uint8_t root[32]);

/*
 * Bind and listen on "ADDR:PORT" (port 0 = any free port): *fd_out is the caller's (close-on-exec,
 * non-blocking), the address actually bound is written to addr ("ADDR:PORT" / "[V6]:PORT").
 * `notarium serve` binds with this before it drops root (tools/serve_privs.c) and hands the
 * socket to server_new.  NT_EINVAL for an address that does not resolve, NT_EIO when binding fails.
 */
int server_listen_open(int *fd_out, char *addr, size_t addr_size, const char *listen);

/* Parse "ADDR:PORT" / "[V6]:PORT" into host (appended) and port. */
int server_listen_parse(nt_buf *host_out, uint16_t *port_out, const char *listen);

#endif
