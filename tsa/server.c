/*
 * server.c - the daemon's assembly: server_new ties the signer (certs), the
 * RFC 3161 core (tsa) and the ledger together and hands a listening socket to
 * http.c; server_shutdown / server_free take it apart.  The HTTP-independent
 * handlers live beside it: server_reply.c, server_status.c (healthz, metrics),
 * server_api.c (/v1 reads), server_evidence.c, server_verify.c.
 */
#include "tsa/server_int.h"
#include "verifier/verifier.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Serial numbers embed a boot epoch that must grow at every start (tsa.h):
 * read, increment and durably rewrite it before the first token.
 */
static int boot_epoch_next(uint32_t *out, const char *data_dir)
{
    return server__boot_epoch_set(out, data_dir, 1, 0);
}

/*
 * The anchors POST /v1/verify checks against: per identity at start-up, the
 * last certificate of its chain (the root, in the usual chain file) or, without
 * a chain, the TSA certificate itself, each once (a reload does not change
 * them: requests read them without a lock); and the log's vkey.
 */
static X509 *anchor_of(const certs_signer *signer)
{
    int n = signer->chain != NULL ? sk_X509_num(signer->chain) : 0;
    return n > 0 ? sk_X509_value(signer->chain, n - 1) : signer->cert;
}

static int verify_anchors(server *s, const server_live *lv)
{
    BIO *bio = NULL;
    char *data = NULL;
    long len;
    int error = 0, seen;

    NT_ENSURE((bio = BIO_new(BIO_s_mem())) != NULL, NT_ENOMEM, "out of memory");
    for (size_t i = 0; i < lv->count; i++) {
        X509 *root = anchor_of(lv->ids[i].signer);
        seen = 0;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = X509_cmp(anchor_of(lv->ids[j].signer), root) == 0;
        }
        if (!seen) {
            NT_OSSL(PEM_write_bio_X509(bio, root), "cannot encode the trust anchor");
        }
    }
    len = BIO_get_mem_data(bio, &data);
    NT_ENSURE(len > 0, NT_ECRYPTO, "cannot encode the trust anchor");
    NT_TRY(nt_buf_set(&s->trust_pem, data, (size_t)len));
    NT_TRY(note_vkey_format(&s->log_vkey, ledger_origin(s->ledger), s->log_key));
done:
    BIO_free(bio);
    return error;
}

/* Nice value of the mirror thread: issuance gets the CPU first, the mirror the slack. */
#define SERVER_MIRROR_NICE 10

typedef struct mirror_launch {
    server *s;
    const mirror_options *mo;
    int error;
    char msg[512];
} mirror_launch;

/*
 * mirror_start from a short-lived thread whose nice value is raised first:
 * on Linux nice is a property of each thread and a thread created by it
 * inherits it, so the mirror thread runs at a lower priority while this
 * process's other threads keep theirs (an unprivileged process could not
 * lower the value again had the main thread raised its own).  Its commits
 * (tile hashing, zlib) then yield the CPU to the HTTP workers and the
 * sequencer under load, and catch up in the slack.  Elsewhere, where nice
 * is per process, the priority is left alone.
 */
static void *mirror_launch_main(void *arg)
{
    mirror_launch *ml = arg;
    if (nt_thread_nice(SERVER_MIRROR_NICE) < 0) {
        nt_log_debug("mirror: cannot lower the mirror thread's priority: %s", nt_error_last());
    }
    ml->error = mirror_start(&ml->s->mirror, ml->s->ledger, ml->mo);
    if (ml->error < 0) {
        /* The message is thread-local: carry it to the caller. */
        snprintf(ml->msg, sizeof(ml->msg), "%s", nt_error_last());
    }
    return NULL;
}

/* Start the git mirror (docs/MIRROR.md) unless the configuration disables it. */
static int mirror_begin(server *s)
{
    const server_config *c = s->cfg;
    mirror_options mo;
    int error = 0;

    if (c->mirror_path == NULL) {
        NT_ENSURE(c->mirror_remote_count == 0, NT_EINVAL,
                  "mirror remotes given, but the mirror is disabled (mirror.path is null)");
        return 0;
    }
    memset(&mo, 0, sizeof(mo));
    mo.path = c->mirror_path;
    mo.interval_ms = c->mirror_interval_ms;
    mo.remotes = (const char *const *)c->mirror_remotes;
    mo.remote_count = c->mirror_remote_count;
    mo.retry_min_ms = c->mirror_retry_min_ms;
    mo.retry_max_ms = c->mirror_retry_max_ms;
    mo.push_timeout_ms = c->mirror_push_timeout_ms;
    mo.stop_timeout_ms = c->mirror_stop_timeout_ms;
    {
        mirror_launch ml = {s, &mo, 0, ""};
        pthread_t t;
        if (pthread_create(&t, NULL, mirror_launch_main, &ml) == 0) {
            pthread_join(t, NULL);
            error = ml.error;
            if (error < 0) {
                nt_error_set(error, "%s", ml.msg);
            }
        } else {
            error = mirror_start(&s->mirror, s->ledger, &mo);
        }
    }
    if (error < 0) {
        char reason[400];
        const char *msg = nt_error_last();
        snprintf(reason, sizeof(reason), "%s", strncmp(msg, "mirror: ", 8) == 0 ? msg + 8 : msg);
        error = nt_error_set(error, "git mirror %s: %s", c->mirror_path, reason);
    }
done:
    return error;
}

/*
 * Time never runs backwards across a restart (BRIEF invariant 3): raise the
 * tsa's last genTime to the ledger's durable genTime high-water mark (the
 * largest genTime ever committed; leaves are not in genTime order), or for a
 * ledger written before the mark existed, to the newest leaf's genTime.
 */
static void gen_time_floor_from_ledger(server *s, tsa *t)
{
    ledger_info info;
    nt_buf leaf = NT_BUF_INIT;
    record rec;
    uint64_t ns = 0;
    uint32_t epoch;
    struct timespec ts;

    if (ledger_info_get(&info, s->ledger) < 0 || info.size == 0) {
        goto done;
    }
    ns = info.gen_time_hw_ns;
    if (ns == 0 && (ledger_leaf_get(&leaf, NULL, s->ledger, info.size - 1) < 0 ||
                    record_decode(&rec, leaf.ptr, leaf.len) < 0 ||
                    tsa_token_info(&ns, &epoch, rec.token) < 0)) {
        goto done;
    }
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    tsa_gen_time_floor(t, &ts); /* the sequence every identity shares */
done:
    nt_buf_dispose(&leaf);
}

/* The address a listening socket is bound to, "ADDR:PORT" or "[V6]:PORT". */
int server__sock_address(char *out, size_t size, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];
    int rc;

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        return nt_error_set(NT_EIO, "getsockname: %s", strerror(errno));
    }
    rc = getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                     NI_NUMERICHOST | NI_NUMERICSERV);
    if (rc != 0) {
        return nt_error_set(NT_EIO, "getnameinfo: %s", gai_strerror(rc));
    }
    snprintf(out, size, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return 0;
}

int server_listen_open(int *fd_out, char *addr_out, size_t addr_size, const char *listen_spec)
{
    struct addrinfo hints, *res = NULL;
    nt_buf host = NT_BUF_INIT;
    char port_text[8];
    uint16_t port;
    int fd = -1, one = 1, rc, error = 0;

    NT_TRY(server_listen_parse(&host, &port, listen_spec));
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(nt_buf_cstr(&host), port_text, &hints, &res);
    NT_ENSURE(rc == 0 && res != NULL, NT_EINVAL, "listen: cannot resolve '%s': %s",
              nt_buf_cstr(&host), gai_strerror(rc));
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    NT_ENSURE(fd >= 0, NT_EIO, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    NT_ENSURE(bind(fd, res->ai_addr, res->ai_addrlen) == 0, NT_EIO, "cannot listen on %s: %s",
              listen_spec, strerror(errno));
    NT_ENSURE(listen(fd, 4096) == 0, NT_EIO, "listen: %s", strerror(errno));
    NT_TRY(server__sock_address(addr_out, addr_size, fd));
    *fd_out = fd;
    fd = -1;
done:
    if (res != NULL) {
        freeaddrinfo(res);
    }
    if (fd >= 0) {
        close(fd);
    }
    nt_buf_dispose(&host);
    return error;
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (unsigned)n : 1;
}

int server_new(server **out, const server_config *cfg, const server_options *opts)
{
    server *s = NULL;
    server_live *lv = NULL;
    const server_identity *dflt;
    ledger_options lo;
    server_listen_fds fds;
    int error = 0, allow_new;
    unsigned threads;
    ledger_info head;

    *out = NULL;
    server__listen_fds_take(&fds, opts); /* ours from here on, also on failure */
    NT_ENSURE((s = nt_calloc(1, sizeof(*s))) != NULL, NT_ENOMEM, "out of memory");
    s->cfg = cfg;
    pthread_mutex_init(&s->reload_lock, NULL);
    if (opts != NULL && opts->config_path != NULL) {
        snprintf(s->config_path, sizeof(s->config_path), "%s", opts->config_path);
    }
    NT_TRY(server_cases_new(&s->cases));

    if (cfg->tls_listen != NULL) {
        NT_TRY(server__tls_new(&s->tls, cfg)); /* a bad certificate or key stops the start */
    }
    NT_TRY(server__keys_load(s));            /* the log key (server_keys.c) */
    NT_TRY(server__cases_signer_check(cfg)); /* the certificate signer (server_cases_cert.c) */
    /* every identity's signer and start-up checks, before the ledger is touched */
    NT_TRY(server__live_load(&lv, s, cfg, NULL));
    allow_new = opts != NULL && opts->allow_new_ledger;
    NT_TRY(server_ledger_guard(cfg, allow_new));

    memset(&lo, 0, sizeof(lo));
    lo.path = cfg->ledger_path;
    NT_ENSURE(cfg->ledger_map_size_mb <= SIZE_MAX / (1024 * 1024), NT_ERANGE,
              "ledger.map_size_mb too large");
    lo.map_size = (size_t)cfg->ledger_map_size_mb * 1024 * 1024;
    lo.origin = cfg->ledger_origin;
    lo.log_key = s->log_key;
    lo.batch_max = cfg->ledger_batch_max;
    lo.batch_window_us = cfg->ledger_batch_window_us;
    lo.queue_max = cfg->ledger_queue_max;
    lo.no_sync = cfg->ledger_no_sync;
    lo.full_retry_ms = cfg->ledger_full_retry_ms;
    NT_TRY(nt_mkdir_p(cfg->ledger_path, 0700));
    NT_TRY(ledger_open(&s->ledger, &lo));
    NT_TRY(ledger_info_get(&head, s->ledger));
    NT_TRY(server_ledger_guard_head(cfg, head.size, head.root, allow_new));
    /* The epoch is bumped once the ledger exists: a first start that fails before
     * must not leave a boot epoch without a ledger (server_ledger_guard would then
     * refuse every later start). */
    NT_TRY(boot_epoch_next(&s->boot_epoch, cfg->data_dir));
    NT_TRY(server__live_start(lv, s, NULL));
    dflt = &lv->ids[lv->dflt];
    atomic_store(&s->live, lv);
    lv = NULL;
    gen_time_floor_from_ledger(s, dflt->tsa);
    /* every signing certificate in the ledger before its first token (server_certs.c) */
    NT_TRY(server__certs_open(s));
    NT_TRY(server__certs_record(s, atomic_load(&s->live)));

    NT_TRY(verify_anchors(s, atomic_load(&s->live)));
    /*
     * The mirror thread reads the ledger through its own read transactions
     * and never waits for the sequencer: it cannot slow issuance down.  Its
     * first commit runs here, so a wrong repository stops the start.
     */
    NT_TRY(mirror_begin(s));

    NT_TRY(server__listeners_open(&fds, s, opts));
    threads = opts != NULL && opts->threads >= 0 ? (unsigned)opts->threads : cfg->threads;
    if (threads == 0) {
        threads = cpu_count();
    }
    s->verify_max = threads > 1 ? threads / 2 : 1;
    if (cfg->limits.enabled) {
        NT_TRY(server_limiter_new(&s->limiter, cfg));
    }
    error = server_http_start(&s->http, s, &fds, threads);
    server__listen_fds_take(&fds, NULL); /* owned by the HTTP daemons now */
    NT_TRY(error);
    NT_TRY(server__listeners_announce(s, opts, threads));
    *out = s;
    s = NULL;
done:
    server__listen_fds_close(&fds);
    server__live_release(lv);
    server_free(s);
    return error;
}

const char *server_address(const server *s)
{
    return s->address;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int server_shutdown(server *s)
{
    int started;
    if (s == NULL || s->shut_down) {
        return s != NULL && s->stuck ? NT_EBUSY : 0;
    }
    s->shut_down = 1;
    started = s->http != NULL;
    atomic_store(&s->stopping, 1);
    if (s->http != NULL) {
        uint64_t deadline;
        server_http_quiesce(s->http);
        /*
         * Requests whose leaves are queued stay suspended until the sequencer
         * commits them, and their clients deserve their tokens.  On a stalled
         * disk that never happens: after http.drain_timeout_ms they are
         * answered 503 (systemFailure: nothing issued) and resumed, because
         * libmicrohttpd aborts when stopped with suspended connections.
         */
        deadline = nt_mono_ns() + (uint64_t)s->cfg->http_drain_timeout_ms * 1000000ull;
        while (atomic_load(&s->pending) > 0 && nt_mono_ns() < deadline) {
            sleep_ms(2);
        }
        if (atomic_load(&s->pending) > 0) {
            s->stuck = 1;
            nt_log_error("shutdown: the ledger did not commit within %u ms (stalled disk?): "
                         "%u waiting requests answered 503, nothing was issued to them",
                         s->cfg->http_drain_timeout_ms, server_http_abandon(s->http));
        }
        /* Let resumed connections send their answers. */
        deadline = nt_mono_ns() + 3ull * 1000000000ull;
        while (atomic_load(&s->active) > 0 && nt_mono_ns() < deadline) {
            sleep_ms(2);
        }
        server_http_stop(s->http);
        s->http = NULL;
    }
    if (s->stuck) {
        /* The sequencer is inside a commit that does not return: closing the ledger would
         * wait for it for ever.  The process exits instead; LMDB keeps the last committed
         * batch, as after a crash.  The mirror is left too (its last commit may be behind
         * the ledger; it catches up at the next start). */
        nt_log_error("stopped without closing the ledger");
        return nt_error_set(NT_EBUSY, "the ledger did not commit within http.drain_timeout_ms");
    }
    /* Every request is answered: the mirror's last commit holds every token sent. */
    mirror_stop(s->mirror);
    s->mirror = NULL;
    if (started) {
        ledger_info head;
        if (ledger_info_get(&head, s->ledger) < 0 ||
            server_ledger_mark(s->cfg, head.size, head.root) < 0) {
            nt_log_warn("cannot record the ledger head in state/ledger: %s", nt_error_last());
        }
    }
    ledger_close(s->ledger);
    s->ledger = NULL;
    if (started) {
        nt_log_info("stopped");
    }
    return 0;
}

void server_free(server *s)
{
    if (s == NULL) {
        return;
    }
    server_shutdown(s);
    if (s->stuck) {
        return; /* the sequencer may still call back into nothing of ours, but never free */
    }
    server__live_release(atomic_load(&s->live));
    server__certs_free(s);
    pthread_mutex_destroy(&s->reload_lock);
    server_limiter_free(s->limiter);
    server__tls_free(s->tls);
    EVP_PKEY_free(s->log_key);
    nt_buf_dispose(&s->trust_pem);
    nt_buf_dispose(&s->log_vkey);
    server_cases_free(s->cases);
    nt_free(s);
}
